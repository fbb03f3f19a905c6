"""One scoring core for the CLI, the HTTP API and the distributed job.

``Pipeline.pipe(notes, batch_size)`` -> verdicts in input order:
normalise + signals (``classifier.signals``) -> label probabilities (the model) ->
rules + thresholds (``classifier.decide``) -> ``Verdict``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from classifier.decide import decide
from classifier.model import Classifier, default_model_dir
from classifier.registry import load_model
from classifier.rules import Policy
from classifier.signals import Lexicon, extract_signals
from classifier.types import LABELS, Note, Signal, Verdict


@dataclass(frozen=True)
class Rulebook:
    """The policy and lexicon in force; swapped as one object on hot reload."""

    policy: Policy
    lexicon: Lexicon


class Pipeline:
    """Scores notes with a model, a lexicon and a policy."""

    def __init__(self, model: Classifier, policy: Policy, lexicon: Lexicon, *, model_dir: Path | None = None) -> None:
        self.model = model
        self.rulebook = Rulebook(policy, lexicon)
        self.model_dir = model_dir

    @classmethod
    def load(
        cls,
        model: Path | str | None = None,
        policy: Path | str | None = None,
        lexicon: Path | str | None = None,
        *,
        exact: bool = False,
    ) -> Pipeline:
        """Load a model folder (default: the shipped model) with its tuned policy unless
        ``policy`` names another file, and the packaged lexicon unless ``lexicon`` does. A model's
        policy that lacks the packaged rules on comments and the author's bio gets them
        (:meth:`Policy.with_context_rules`); a ``policy`` file is used exactly as written.
        ``exact=True`` scores on the full unoptimised model (see :func:`load_model`)."""
        model_dir = Path(model) if model is not None else default_model_dir()
        classifier = load_model(model_dir, exact=exact)
        return cls(classifier, policy_for(model_dir, policy), Lexicon.load(_opt_path(lexicon)),
                   model_dir=model_dir)

    @property
    def policy(self) -> Policy:
        return self.rulebook.policy

    @property
    def lexicon(self) -> Lexicon:
        return self.rulebook.lexicon

    @property
    def model_version(self) -> str:
        return self.model.version

    def reload_rules(self, policy: Path | str | None = None, lexicon: Path | str | None = None) -> Rulebook:
        """Load and validate a new policy and lexicon, then swap them in; on any error the old
        ones stay in force and the error propagates."""
        book = Rulebook(policy_for(self.model_dir, policy), Lexicon.load(_opt_path(lexicon)))
        self.rulebook = book
        return book

    def signals(self, note: Note, lexicon: Lexicon | None = None) -> tuple[Signal, ...]:
        return extract_signals(note, lexicon or self.lexicon)

    def predict(self, notes: Sequence[Note]) -> npt.NDArray[np.float64]:
        """Model probabilities, (n, 3) in LABELS order; no rules, no decisions."""
        if not notes:
            return np.zeros((0, len(LABELS)))
        return self.model.predict_proba(notes)

    def pipe(self, notes: Iterable[Note], batch_size: int = 64) -> Iterator[Verdict]:
        """Verdicts for a stream of notes, in the same order, computed batch by batch."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        it = iter(notes)
        while batch := list(itertools.islice(it, batch_size)):
            yield from self.score_batch(batch)

    def score_batch(self, notes: Sequence[Note]) -> list[Verdict]:
        book = self.rulebook  # one consistent policy+lexicon for the whole batch
        probs = self.predict(notes)
        version = self.model_version
        return [
            decide(note, extract_signals(note, book.lexicon), dict(zip(LABELS, row, strict=True)),
                   book.policy, version)
            for note, row in zip(notes, probs, strict=True)
        ]

    def __call__(self, note: Note) -> Verdict:
        return self.score_batch([note])[0]


def _opt_path(p: Path | str | None) -> Path | None:
    return Path(p) if p is not None else None


def policy_for(model_dir: Path | None, policy: Path | str | None) -> Policy:
    """``policy`` as written, else the model folder's tuned policy (with the context rules it may
    lack), else the packaged one."""
    if policy is not None:
        return Policy.load(policy)
    if model_dir is not None and (model_dir / "policy.json").is_file():
        # a tuned policy older than the comment and bio rules gets them (see with_context_rules)
        return Policy.load(model_dir / "policy.json").with_context_rules(Policy.load())
    return Policy.load()
