"""Export forms: the same labelled notes as other crawler exports would give them.

Exports of one platform differ in form, not in content: some keep the platform's topic markup
(``#话题[话题]#``) in the text, others move the topics to a tag field (MediaCrawler's ``tag_list``)
or drop them; some have no title, flatten line breaks, drop emoji codes, or cut the text to a
summary. Each form below rewrites every note of a labelled set that way and scores it on the
default path, as ``notecheck score`` would; the figures say how far a verdict depends on the export
rather than on the note. The real dev notes are only rewritten and scored here, never kept::

    python -m training.forms --data ../shared/data/real_notes/dev.jsonl --out training/results/forms.json
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from classifier.model import EMOJI_CODE
from classifier.types import Note
from training.data import load_labelled
from training.quality import figures

TOPIC_MARKUP = re.compile(r"#[^#\n]{1,40}?\[话题\]#")
EMOJI_CODES = re.compile(r"(?!\[话题\])" + EMOJI_CODE)  # the model's emoji-code pattern, not the topic marker


def drop_topics(note: Note) -> Note:
    """The note as an export that drops its topics gives it: every ``#topic[话题]#`` and each listed
    topic's plain ``#topic#`` removed from the text, no ``topics``. One rewrite for the "topics
    dropped" form and for ``notecheck train --augment topics-dropped``."""
    text = TOPIC_MARKUP.sub("", note.text)
    for topic in note.topics:
        text = text.replace(f"#{topic}#", "")
    return replace(note, text=text.rstrip(), topics=())


def _cut(n: int) -> Callable[[Note], Note]:
    return lambda note: replace(note, text=note.text[:n])


FORMS: dict[str, tuple[str, Callable[[Note], Note]]] = {
    "as given": ("the notes as the labelled file holds them", lambda note: note),
    "topics in a tag field": ("topic markup removed from the text, the topics kept in `topics`",
                              lambda note: replace(note, text=TOPIC_MARKUP.sub("", note.text))),
    "topics dropped": ("topic markup removed from the text and no `topics`", drop_topics),
    "no title": ("the title empty", lambda note: replace(note, title="")),
    "title in the text": ("the title as the text's first line",
                          lambda note: replace(note, title="", text="\n".join(p for p in (note.title, note.text) if p))),
    "one line": ("every run of whitespace one space", lambda note: replace(note, text=re.sub(r"\s+", " ", note.text))),
    "no emoji codes": ("`[笑哭R]`-style codes removed", lambda note: replace(note, text=EMOJI_CODES.sub("", note.text))),
    "cut to 120": ("the text cut to its first 120 characters (topics kept in `topics`)", _cut(120)),
    "cut to 60": ("the text cut to its first 60 characters (topics kept in `topics`)", _cut(60)),
}


def measure(data: Path, model_dir: Path | None = None,
            forms: dict[str, tuple[str, Callable[[Note], Note]]] | None = None) -> dict[str, Any]:
    """Per form (default: all of :data:`FORMS`): its description and :func:`training.quality.figures`
    on the rewritten notes."""
    from classifier.pipeline import Pipeline

    pipeline = Pipeline.load(model_dir)
    examples = load_labelled(data)
    truth = [x.label for x in examples]
    out: dict[str, Any] = {"model": pipeline.model_version, "policy": pipeline.policy.version,
                           "data": str(data), "forms": {}}
    for name, (what, rewrite) in (forms or FORMS).items():
        pred = [v.label for v in pipeline.pipe([rewrite(x.note) for x in examples])]
        out["forms"][name] = {"what": what, **figures(truth, pred)}
    return out


def render(result: dict[str, Any]) -> str:
    """The README table of :func:`measure`'s result."""
    lines = [(f"Export forms (`python -m training.forms --data {result['data']} --out "
              f"training/results/forms.json`; default path, model {result['model']}): the same notes "
              "rewritten as other exports give them:"), "",
             "| form | what changes | macro-F1 | undisclosed_ad recall | genuine flagged ad |",
             "|---|---|---|---|---|"]
    for name, f in result["forms"].items():
        lines.append(f"| {name} | {f['what']} | {f['macro_f1']:.3f} | {f['undisclosed_ad_recall']:.3f} | "
                     f"{100 * f['genuine_flagged_ad']:.1f}% |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.forms", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="a labelled JSONL file")
    p.add_argument("--model", type=Path, help="model folder (default: the shipped model)")
    p.add_argument("--out", type=Path, help="keep the result here (JSON)")
    args = p.parse_args(argv)
    result = measure(args.data, args.model)
    print(render(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", "utf-8")
        print(f"kept in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
