"""ONNX Runtime inference for encoder folders: the fast path of :class:`classifier.encoder.EncoderModel`.

``python -m training.export MODEL_DIR`` writes, next to the transformers files of an encoder folder:

- ``model.onnx``       the fp32 graph (transformer ops fused for ONNX Runtime's CPU kernels);
- ``model.int8.onnx``  the same graph with dynamically quantised int8 weights (the fast path);
- ``onnx.json``        what they were made from (sha256 of ``model.safetensors``), with which
                       options and library versions, and the quality check against torch.

These files are build artefacts (git-ignored), made once at set-up or after training, never at
start-up. :func:`fast_artifact` says whether a folder has an up-to-date int8 graph, and
:class:`OnnxEncoderModel` scores with it exactly as :class:`EncoderModel` does with torch: the
same tokenisation, head+tail truncation (its ``encode`` is inherited, not copied), length-sorted
micro-batches and temperature. Only ``onnxruntime``, ``tokenizers`` and numpy are imported, so
the fast path starts without torch or transformers.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifier.encoder import EncoderModel, pad_numpy
from classifier.errors import ModelError
from classifier.model import file_sha256, read_model_config, require_files
from classifier.types import LABELS

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model.int8.onnx"
ONNX_META = "onnx.json"
WEIGHTS = "model.safetensors"
ONNX_INPUTS = ("input_ids", "attention_mask")

RunHook = Callable[[list[tuple[IntArray, IntArray]], float], None]
"""Called after every :meth:`OnnxEncoderModel.logits` with the ``(input_ids, attention_mask)`` of
each session run and the wall seconds they took together (the benchmark counts the encoder's
FLOPs and time with it)."""

log = logging.getLogger("notecheck.onnx")


def weights_digest(path: Path) -> str:
    """sha256 of an encoder folder's ``model.safetensors``: ties an exported graph to its weights."""
    return file_sha256(Path(path) / WEIGHTS)


def read_onnx_meta(path: Path) -> dict[str, Any] | None:
    """``onnx.json`` of a folder, or ``None`` when there is none (or it is unreadable)."""
    try:
        data = json.loads((Path(path) / ONNX_META).read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def fast_artifact(path: Path | str, file: str = ONNX_INT8) -> Path | None:
    """The int8 graph of an encoder folder if it exists and was exported from the weights now in
    the folder; ``None`` otherwise (a stale graph is reported in the log, never used)."""
    path = Path(path)
    graph = path / file
    if not graph.is_file():
        return None
    meta = read_onnx_meta(path)
    if meta is None or not (path / WEIGHTS).is_file():
        log.warning("%s has no readable %s: ignoring it; rerun `python -m training.export %s`",
                    graph, ONNX_META, path)
        return None
    if meta.get("weights_sha256") != weights_digest(path):
        log.warning("%s was exported from other weights than %s/%s: ignoring it (torch is used); "
                    "rerun `python -m training.export %s`", graph, path, WEIGHTS, path)
        return None
    return graph


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask; all CPUs where there is none)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def session_options(threads: int | None = None, *, spin: bool = False) -> Any:
    """ORT options for a small CPU box: one inter-op thread (the graph is a chain), ``threads``
    intra-op threads (default: every CPU this process may use), all graph optimisations.
    Idle worker threads do not spin unless ``spin=True``: in the server, spinning threads took
    the cores from the event loop (server CPU 13.6 -> 9.8 ms/note at 32 clients without it),
    and the batch CLI was no faster with it (about 160 notes/s either way on 2,000 notes)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or available_cpus()
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    so.log_severity_level = 3
    return so


class RawTokenizer:
    """The folder's ``tokenizer.json`` run by the ``tokenizers`` library, without transformers.

    Offers what :meth:`EncoderModel.encode` uses: ``__call__(texts, add_special_tokens=False)``
    returning ``{"input_ids": ...}`` and the ``cls``/``sep``/``pad`` token ids. ``training.export``
    checks that it yields the same ids as ``AutoTokenizer`` before it records ``"tokenizer": "raw"``.
    """

    def __init__(self, backend: Any, cls_token_id: int, sep_token_id: int, pad_token_id: int) -> None:
        self.backend = backend
        self.cls_token_id = cls_token_id
        self.sep_token_id = sep_token_id
        self.pad_token_id = pad_token_id

    @classmethod
    def load(cls, path: Path | str) -> RawTokenizer:
        from tokenizers import Tokenizer

        path = Path(path)
        require_files(path, ["tokenizer.json", "tokenizer_config.json"])
        backend = Tokenizer.from_file(str(path / "tokenizer.json"))
        backend.no_truncation()
        backend.no_padding()
        cfg = json.loads((path / "tokenizer_config.json").read_text("utf-8"))
        ids = {}
        for role in ("cls", "sep", "pad"):
            token = cfg.get(f"{role}_token")
            if isinstance(token, dict):  # older configs store AddedToken dicts
                token = token.get("content")
            tid = backend.token_to_id(token) if isinstance(token, str) else None
            if tid is None:
                raise ModelError(f"{path}/tokenizer_config.json: {role}_token {token!r} is not in "
                                 "tokenizer.json; re-save the tokenizer with save_pretrained()")
            ids[role] = int(tid)
        return cls(backend, ids["cls"], ids["sep"], ids["pad"])

    def __call__(self, texts: Sequence[str], add_special_tokens: bool = False,
                 verbose: bool = False) -> dict[str, list[list[int]]]:
        del verbose  # accepted for call compatibility with transformers tokenizers
        encodings = self.backend.encode_batch(list(texts), add_special_tokens=add_special_tokens)
        return {"input_ids": [e.ids for e in encodings]}


def micro_batches(lengths: Sequence[int], batch_size: int, max_tokens: int) -> Iterator[list[int]]:
    """Indices in increasing length, cut into batches of at most ``batch_size`` sequences and
    at most ``max_tokens`` padded tokens (short notes travel in bigger batches)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batch: list[int] = []
    for i in order:
        if batch and (len(batch) >= batch_size or (len(batch) + 1) * lengths[i] > max_tokens):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


class OnnxEncoderModel(EncoderModel):
    """An encoder folder scored by ONNX Runtime; same interface and scores (within int8 error)
    as :class:`EncoderModel`. ``version`` adds the graph's precision, e.g. ``name@1+onnx-int8``,
    and the int8 scope when only part of the graph is int8 (``name@1+onnx-int8-attention``), so
    every verdict says which arithmetic produced it.

    The int8 graph runs one note at a time (``batch_size=1``): dynamic quantisation picks one
    activation scale per run over the whole batch, padding included, so in a batch a note's
    scores would depend on its neighbours (the API's micro-batches and the CLI's would disagree; on
    the held-out writer's notes the fast path's macro-F1 moved by 0.4 pt with the batch make-up).
    Alone, each note always gets the same scores, and no padding is computed; on this 2-core CPU
    it cost nothing measurable (55-68 notes/s at 1, 4 or 32 notes per run)."""

    def __init__(self, session: Any, tokenizer: Any, config: dict[str, Any], *, precision: str = "int8",
                 scope: str = "all", batch_size: int | None = None, max_tokens: int = 4096) -> None:
        if batch_size is None:
            batch_size = 1 if precision == "int8" else 32
        super().__init__(session, tokenizer, config, batch_size=batch_size)
        self.session = session
        self.precision = precision
        self.scope = scope
        self.max_tokens = max_tokens
        self.on_run: RunHook | None = None
        self.parallel_runs = min(2, available_cpus())
        self._pool: ThreadPoolExecutor | None = None

    @property
    def version(self) -> str:
        partial = f"-{self.scope}" if self.precision == "int8" and self.scope != "all" else ""
        return f"{super().version}+onnx-{self.precision}{partial}"

    @classmethod
    def load(cls, path: Path | str, *, threads: int | None = None, file: str = ONNX_INT8,
             spin: bool = False) -> OnnxEncoderModel:
        """Load ``file`` (default the int8 graph) of an exported encoder folder."""
        import onnxruntime as ort

        path = Path(path)
        cfg = read_model_config(path)
        if cfg["kind"] != "encoder":
            raise ModelError(f"{path} holds a {cfg['kind']!r} model, not an encoder")
        if not (path / file).is_file():
            raise ModelError(f"{path / file} is missing: export the encoder first with "
                             f"`python -m training.export {path}`")
        meta = read_onnx_meta(path) or {}
        if meta.get("tokenizer") == "raw":
            tokenizer: Any = RawTokenizer.load(path)
        else:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(path))
        try:
            session = ort.InferenceSession(str(path / file), session_options(threads, spin=spin),
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
            raise ModelError(f"cannot load {path / file} with onnxruntime: {exc}; re-export it with "
                             f"`python -m training.export {path}`") from None
        names = tuple(i.name for i in session.get_inputs())
        if names != ONNX_INPUTS:
            raise ModelError(f"{path / file}: graph inputs are {list(names)}; expected {list(ONNX_INPUTS)}")
        precision = "int8" if file == ONNX_INT8 else "fp32"
        scope = str((meta.get("int8") or {}).get("scope", "all"))  # graphs exported before scopes: all
        return cls(session, tokenizer, cfg, precision=precision, scope=scope)

    def logits(self, texts: Sequence[str]) -> FloatArray:
        """Raw logits, computed in length-sorted micro-batches (less padding).

        When there are several runs, ``parallel_runs`` of them go at once from a small thread
        pool: ONNX Runtime releases the GIL and a run alone still gets every intra-op thread. On
        this 2-core CPU two at a time scored 1.5x the notes/s of one at a time (70 vs 46 notes/s
        of the held-out writer's notes, one note per run) with the same logits, bit for bit."""
        ids = self.encode(texts)
        out = np.zeros((len(ids), len(LABELS)), dtype=np.float64)
        pad = self.tokenizer.pad_token_id
        chunks = list(micro_batches([len(s) for s in ids], self.batch_size, self.max_tokens))
        feeds = [pad_numpy([ids[i] for i in chunk], pad) for chunk in chunks]
        started = time.perf_counter()
        if len(feeds) > 1 and self.parallel_runs > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.parallel_runs, thread_name_prefix="onnx-run")
            results = list(self._pool.map(self._run, feeds))
        else:
            results = [self._run(feed) for feed in feeds]
        if self.on_run is not None:
            self.on_run(feeds, time.perf_counter() - started)
        for chunk, logits in zip(chunks, results, strict=True):
            out[chunk] = logits
        return out

    def _run(self, feed: tuple[IntArray, IntArray]) -> Any:
        (logits,) = self.session.run(["logits"], {"input_ids": feed[0], "attention_mask": feed[1]})
        return logits
