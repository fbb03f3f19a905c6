"""Make a small fine-tuning base from a converted e5 folder: fewer layers, a corpus-trimmed vocabulary.

Kept pieces are: the special tokens, every piece that occurs at least ``min_count`` times when the
full tokenizer segments ``texts``, and every single-character piece (bare or ``▁``-prefixed) of CJK
ideographs, ASCII, punctuation, symbols/emoji and numbers, so that unseen text still tokenises to
characters rather than ``<unk>``. New ids follow the old order (specials keep ids 0-3).

The tokenizer keeps the full tokenizer's pipeline and scores; ``<unk>``'s score is set to the full
vocabulary's minimum so the unknown penalty (minimum score - 10) is unchanged. A Viterbi path over
kept pieces is then scored exactly as before and every path that is new (through ``<unk>``) scores
lower than the full-vocabulary path it replaces, so text that the full tokenizer segments into
kept pieces is segmented identically. The encoder keeps its first ``keep_layers`` layers.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifier.errors import FormatError, InputError, ModelError
from training.base_e5 import save_tokenizer, staged_dir

__all__ = ["COMPACT_META", "TEXT_FIELDS", "compact", "is_fallback_piece", "main", "read_texts"]

COMPACT_META = "compact_meta.json"
TEXT_FIELDS = ("title", "text", "desc", "review", "summary")
"""Fields joined (newline) into one text when reading JSONL or CSV rows."""
_BATCH = 2048
_EXTRA_CHARS = frozenset("\ufe0f\u20e3")  # emoji variation selector, keycap


def is_fallback_piece(piece: str) -> bool:
    """True for ``▁`` and one-character pieces (optionally ``▁``-prefixed) of CJK ideographs,
    ASCII, punctuation, symbols (emoji, currency) or numbers."""
    if piece == "▁":
        return True
    char = piece.removeprefix("▁")
    if len(char) != 1:
        return False
    cp = ord(char)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20 < cp < 0x7F
            or unicodedata.category(char)[0] in "PSN" or char in _EXTRA_CHARS)


def _row_text(row: dict[str, Any], where: str, line: int) -> str:
    """The row's text fields joined; ``""`` when they are present but empty."""
    if not any(f in row for f in TEXT_FIELDS):
        raise InputError(f"{where}: none of the fields {list(TEXT_FIELDS)} is present (got "
                         f"{sorted(row)[:8]}); rename the text column or use a plain-text file "
                         "(one text a line).", field="text", row=line)
    return "\n".join(str(row[f]).strip() for f in TEXT_FIELDS if row.get(f))


def read_texts(paths: Iterable[Path]) -> Iterator[str]:
    """Texts from ``.jsonl``/``.json`` (one object a line), ``.csv`` (header row) or plain-text
    files (one text a non-empty line). Rows join their :data:`TEXT_FIELDS` with newlines; rows
    whose text fields are all empty are skipped."""
    for path in map(Path, paths):
        suffix = path.suffix.lower()
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                if suffix == ".csv":
                    for line, row in enumerate(csv.DictReader(handle), start=2):
                        if text := _row_text(row, str(path), line):
                            yield text
                    continue
                for line, raw in enumerate(handle, start=1):
                    if not raw.strip():
                        continue
                    if suffix not in (".jsonl", ".json"):
                        yield raw.strip()
                        continue
                    try:
                        row = json.loads(raw)
                    except ValueError as err:
                        raise FormatError(f"{path}: not JSON Lines ({err}); expected one JSON "
                                          "object a line.", row=line) from err
                    if not isinstance(row, dict):
                        raise FormatError(f"{path}: a line holds {type(row).__name__}, expected "
                                          "an object with title/text fields.", row=line)
                    if text := _row_text(row, str(path), line):
                        yield text
        except (OSError, UnicodeDecodeError) as err:
            raise FormatError(f"cannot read {path} as UTF-8 text: {err}") from err


def _count_pieces(tokenizer: Any, texts: Iterable[str], vocab_size: int) -> tuple[
        npt.NDArray[np.int64], int]:
    counts = np.zeros(vocab_size, dtype=np.int64)
    n_texts, batch = 0, []
    for text in texts:
        batch.append(text)
        if len(batch) == _BATCH:
            n_texts += _add_counts(tokenizer, batch, counts)
            batch = []
    n_texts += _add_counts(tokenizer, batch, counts)
    return counts, n_texts


def _add_counts(tokenizer: Any, batch: list[str], counts: npt.NDArray[np.int64]) -> int:
    if batch:
        ids = [np.asarray(e.ids, dtype=np.int64)
               for e in tokenizer.encode_batch(batch, add_special_tokens=False)]
        counts += np.bincount(np.concatenate(ids), minlength=len(counts))
    return len(batch)


def _remap_processor(node: Any, new_id: dict[int, int]) -> None:
    """Rewrite the special-token ids a post-processor JSON refers to."""
    kind = node.get("type") if isinstance(node, dict) else None
    if kind == "TemplateProcessing":
        for spec in node["special_tokens"].values():
            spec["ids"] = [new_id[i] for i in spec["ids"]]
    elif kind in ("RobertaProcessing", "BertProcessing"):
        for key in ("sep", "cls"):
            node[key] = [node[key][0], new_id[node[key][1]]]
    elif kind == "Sequence":
        for child in node["processors"]:
            _remap_processor(child, new_id)
    elif node is not None and kind != "ByteLevel":
        raise ModelError(f"post-processor {kind!r} is not supported; expected TemplateProcessing, "
                         "RobertaProcessing, BertProcessing or Sequence.")


def _compact_tokenizer(full: dict[str, Any], kept: Sequence[int]) -> Any:
    from tokenizers import Tokenizer

    model = full["model"]
    new_id = {old: new for new, old in enumerate(kept)}
    vocab = [list(model["vocab"][old]) for old in kept]
    vocab[new_id[model["unk_id"]]][1] = min(score for _, score in model["vocab"])
    slim = dict(full, model=dict(model, vocab=vocab, unk_id=new_id[model["unk_id"]]))
    slim["added_tokens"] = [dict(t, id=new_id[t["id"]]) for t in full["added_tokens"]]
    slim["post_processor"] = json.loads(json.dumps(full["post_processor"]))
    _remap_processor(slim["post_processor"], new_id)
    return Tokenizer.from_str(json.dumps(slim, ensure_ascii=False))


def compact(base_dir: Path, out_dir: Path, texts: Iterable[str], keep_layers: int,
            min_count: int = 1) -> Path:
    """Write a model folder with the first ``keep_layers`` layers of ``base_dir`` and the pieces
    that ``texts`` use (see the module docstring); return ``out_dir``."""
    import torch
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    base_dir, out_dir = Path(base_dir), Path(out_dir)
    try:
        config = json.loads((base_dir / "config.json").read_text(encoding="utf-8"))
        full_json = json.loads((base_dir / "tokenizer.json").read_text(encoding="utf-8"))
        tok_config = json.loads((base_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelError(f"{base_dir} is not a complete model folder ({err}); run "
                         "python -m training.base_e5 --out DIR first.") from err
    layers = int(config["num_hidden_layers"])
    if not 1 <= keep_layers <= layers:
        raise ValueError(f"keep_layers={keep_layers}; expected 1..{layers} (the base has {layers}).")
    if min_count < 1:
        raise ValueError(f"min_count={min_count}; expected an integer >= 1.")
    if full_json["model"]["type"] != "Unigram":
        raise ModelError(f"{base_dir}/tokenizer.json holds a {full_json['model']['type']} model; "
                         "compact needs a Unigram (sentencepiece) tokenizer.")
    pieces = [piece for piece, _ in full_json["model"]["vocab"]]
    counts, n_texts = _count_pieces(Tokenizer.from_str(json.dumps(full_json)), texts, len(pieces))
    if n_texts == 0:
        raise InputError("no texts given; pass a corpus so the kept vocabulary reflects it.")
    special = {t["id"] for t in full_json["added_tokens"]} | {full_json["model"]["unk_id"]}
    fallback = np.array([is_fallback_piece(p) for p in pieces])
    keep_mask = (counts >= min_count) | fallback
    keep_mask[sorted(special)] = True
    kept = np.flatnonzero(keep_mask).tolist()

    state = load_file(str(base_dir / "model.safetensors"))
    slim: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if name == "embeddings.word_embeddings.weight":
            slim[name] = tensor[torch.tensor(kept)].contiguous()
        elif name.startswith("encoder.layer."):
            if int(name.split(".")[2]) < keep_layers:
                slim[name] = tensor
        else:
            slim[name] = tensor
    if "embeddings.word_embeddings.weight" not in slim:
        raise ModelError(f"{base_dir}/model.safetensors has no embeddings.word_embeddings.weight; "
                         "expected a BERT/XLM-R encoder saved without a task prefix.")
    config.update(num_hidden_layers=keep_layers, vocab_size=len(kept))
    meta = {"base": str(base_dir), "keep_layers": keep_layers, "min_count": min_count,
            "texts": n_texts, "tokens": int(counts.sum()), "vocab_size": len(kept),
            "corpus_pieces": int((counts >= min_count).sum()), "fallback_pieces": int(fallback.sum()),
            "source_ids": kept}
    with staged_dir(out_dir, COMPACT_META) as staging:
        from safetensors.torch import save_file

        save_file(slim, str(staging / "model.safetensors"), metadata={"format": "pt"})
        (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        save_tokenizer(_compact_tokenizer(full_json, kept), staging,
                       model_max_length=int(tok_config.get("model_max_length", 512)))
        (staging / COMPACT_META).write_text(json.dumps(meta) + "\n", encoding="utf-8")
    return out_dir


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m training.compact --base DIR --out DIR --layers N --texts FILE...``."""
    parser = argparse.ArgumentParser(prog="python -m training.compact", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True, help="a training.base_e5 folder")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--layers", type=int, required=True, help="encoder layers to keep")
    parser.add_argument("--min-count", type=int, default=1, help="min corpus count of a piece")
    parser.add_argument("--texts", type=Path, nargs="+", required=True,
                        help="corpus files: .jsonl/.json rows, .csv with a header, or text lines")
    args = parser.parse_args(argv)
    try:
        out = compact(args.base, args.out, read_texts(args.texts), args.layers, args.min_count)
    except (ModelError, InputError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    meta = json.loads((out / COMPACT_META).read_text(encoding="utf-8"))
    size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    print(f"{out}: {meta['keep_layers']} layers, {meta['vocab_size']} pieces from "
          f"{meta['texts']} texts, {size:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
