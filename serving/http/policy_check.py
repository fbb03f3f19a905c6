"""Check a policy and lexicon before a reload swaps them in: in a child process, under a deadline.

A reload must never stall scoring. Compiling a pattern is quick, but a pattern that backtracks
catastrophically (``(a|aa)+$``) can take minutes on one unlucky note, and a regex engine may hold
the GIL while it matches (Python's ``re`` does), so a check in a thread of the server could freeze
the scoring thread too; a child process cannot, and it can be killed.
So :func:`check_rules` runs the check in a separate interpreter (``python -m
serving.http.policy_check``) and kills it at the deadline. The child

1. validates the documents with :meth:`classifier.rules.Policy.from_dict` /
   :meth:`~classifier.rules.Policy.load` and :meth:`classifier.signals.Lexicon.from_dict` /
   :meth:`~classifier.signals.Lexicon.load` (the same calls the server then makes), and
2. runs every fold and every lexicon entry on its own over probe texts built from the entry's
   own characters, short and long (runs of one character, the pattern's literals repeated),
   reporting each fold/entry id before it starts.

A child that is still running at the deadline is killed and the reload refused naming the fold
or entry it was on; an invalid document is refused with the rule id the validator names. The
probes find the common catastrophic shapes, not every one: the deadline is the guarantee that
the reload request ends, the linear-time pattern engine of :mod:`classifier` the guarantee that
scoring does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifier.errors import PolicyError

__all__ = ["RulesCheck", "RulesRefused", "check_rules", "policy_file"]

_META = set("\\()[]{}?*+|^$.")
_GENERIC = "a1 哈!。"
_MAX_CHARS = 24
_SHORT, _LONG = 40, 1000
_END = "\u2603"  # a character no pattern expects: every probe ends in a failed match


@dataclass(frozen=True)
class RulesCheck:
    """What to check: a document (parsed JSON) or a file for each of the policy and lexicon.

    ``*_file`` of ``None`` with ``check_*`` true means the packaged default."""

    policy: dict[str, Any] | None = None
    lexicon: dict[str, Any] | None = None
    policy_file: str | None = None
    lexicon_file: str | None = None
    check_policy: bool = False
    check_lexicon: bool = False

    def to_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False)


class RulesRefused(Exception):
    """The check failed: ``document`` (``policy`` or ``lexicon``) is invalid or too slow."""

    def __init__(self, document: str, error: PolicyError) -> None:
        super().__init__(f"invalid {document}: {error}")
        self.document = document
        self.error = error


def policy_file(model_dir: Path | None, policy: Path | None) -> Path | None:
    """The policy file a reload from files reads (as :meth:`Pipeline.reload_rules` does): the
    configured one, else the model folder's ``policy.json``, else ``None`` (the packaged one)."""
    if policy is not None:
        return policy
    if model_dir is not None and (model_dir / "policy.json").is_file():
        return model_dir / "policy.json"
    return None


def check_rules(job: RulesCheck, timeout_s: float) -> None:
    """Check ``job`` in a child process; raises :class:`RulesRefused` when a document is invalid
    or the check is still running after ``timeout_s`` seconds (the child is then killed)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "serving.http.policy_check"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
    try:
        out, err = proc.communicate(job.to_json(), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        document, where, rule_id = _last_position(out)
        raise RulesRefused(document, PolicyError(
            f"checking its patterns took longer than {timeout_s:g} s ({where}); a pattern "
            "that backtracks catastrophically (nested quantifiers such as (a+)+, or .* next "
            "to .*) would stall scoring: simplify it (or raise NOTECHECK_RELOAD_TIMEOUT_S if "
            "the lexicon is just very large)",
            rule_id=rule_id)) from None
    result = _result(out)
    if result is None:  # the child died (out of memory, a crash): refuse, keep the rules
        document, where, rule_id = _last_position(out)
        last = err.strip().splitlines()[-1:] or ["no message"]
        raise RulesRefused(document, PolicyError(
            f"the check stopped without a result ({where}; exit code {proc.returncode}: "
            f"{last[0][:300]}); simplify the pattern or send a smaller document",
            rule_id=rule_id))
    if not result.get("ok"):
        raise RulesRefused(str(result["document"]), PolicyError(
            str(result["message"]), rule_id=result.get("rule_id"), path=result.get("path")))


def _messages(out: str) -> Iterator[dict[str, Any]]:
    for line in out.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            yield message


def _result(out: str) -> dict[str, Any] | None:
    found = [m for m in _messages(out) if "ok" in m]
    return found[-1] if found else None


def _last_position(out: str) -> tuple[str, str, str | None]:
    """The document, a description of the step and the fold/entry id the child was on."""
    positions = [m for m in _messages(out) if "document" in m and "ok" not in m]
    if not positions:
        return "policy", "starting the check", None
    last = positions[-1]
    document = str(last["document"])
    for kind in ("fold", "entry"):
        if last.get(kind):
            return document, f"at {kind} {last[kind]}", str(last[kind])
    return document, f"validating the {document}", None


# ----------------------------------------------------------------------------- the child


def probe_texts(patterns: list[str]) -> list[str]:
    """Texts that make a catastrophic pattern show itself: runs of each character the patterns
    use (and a few generic ones), short and long, and the patterns' literals repeated; each
    ends in a character no pattern expects."""
    chars = list(dict.fromkeys(c for p in patterns for c in p if c not in _META))[:_MAX_CHARS]
    literals = "".join(c for p in patterns for c in p if c not in _META) or "a"
    texts = [c * n + _END for c in dict.fromkeys([*chars, *_GENERIC]) for n in (_SHORT, _LONG)]
    texts.append((literals * (_LONG // len(literals) + 1))[:_LONG] + _END)
    return texts


def _run(job: Mapping[str, Any], emit: Callable[[dict[str, Any]], None]) -> None:
    from classifier.rules import Policy
    from classifier.signals import Lexicon, extract_signals
    from classifier.types import Note

    if job.get("check_lexicon"):
        emit({"document": "lexicon"})
        doc, path = job.get("lexicon"), job.get("lexicon_file")
        lexicon = (Lexicon.from_dict(doc, path="<request body: lexicon>") if doc is not None
                   else Lexicon.load(path))
        for fold in lexicon.folds:
            emit({"document": "lexicon", "fold": fold.id})
            alone = Lexicon(lexicon.version, (), (fold,), lexicon.path)
            for text in probe_texts([str(getattr(fold.regex, "pattern", "")),
                                     *fold.mapping]):
                extract_signals(Note(id="probe", text=text), alone)
        for entry in lexicon.entries:
            emit({"document": "lexicon", "entry": entry.id})
            alone = Lexicon(lexicon.version, (entry,), lexicon.folds, lexicon.path)
            for text in probe_texts(list(entry.patterns)):
                extract_signals(Note(id="probe", text=text), alone)
    if job.get("check_policy"):
        emit({"document": "policy"})
        doc, path = job.get("policy"), job.get("policy_file")
        if doc is not None:
            Policy.from_dict(doc, "<request body: policy>")
        else:
            Policy.load(path)


def main() -> int:
    """``python -m serving.http.policy_check``: a :class:`RulesCheck` as JSON on stdin; JSON lines on
    stdout: the position before each step, then ``{"ok": true}`` or ``{"ok": false, ...}``."""
    def emit(message: dict[str, Any]) -> None:
        print(json.dumps(message, ensure_ascii=False), flush=True)

    job = json.loads(sys.stdin.read())
    document = "lexicon" if job.get("check_lexicon") else "policy"

    def track(message: dict[str, Any]) -> None:
        nonlocal document
        document = str(message["document"])
        emit(message)

    try:
        _run(job, track)
    except PolicyError as exc:
        emit({"ok": False, "document": document, "message": _message_of(exc),
              "rule_id": exc.rule_id, "path": exc.path})
        return 0
    except (TypeError, KeyError, AttributeError, ValueError) as exc:  # malformed beyond the checks
        emit({"ok": False, "document": document, "message": f"the document is malformed "
              f"({type(exc).__name__}: {exc}); send the same JSON as the {document} file"})
        return 0
    emit({"ok": True})
    return 0


def _message_of(exc: PolicyError) -> str:
    """The error without the ``path: rule 'id':`` prefix (the parent rebuilds it)."""
    text = str(exc)
    prefix = " ".join(p for p in (f"{exc.path}:" if exc.path else "",
                                  f"rule {exc.rule_id!r}:" if exc.rule_id else "") if p)
    return text[len(prefix):].strip() if prefix and text.startswith(prefix) else text


if __name__ == "__main__":
    raise SystemExit(main())
