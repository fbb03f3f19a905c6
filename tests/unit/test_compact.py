"""The compact base: layer truncation, corpus-trimmed vocabulary, identical segmentation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from classifier.errors import FormatError, InputError, ModelError
from classifier.model import file_sha256
from training import compact as compact_mod
from training.base_e5 import convert, default_base_dir, find_bundled_bin, is_complete
from training.compact import COMPACT_META, compact, is_fallback_piece, read_texts

KEEP = 3
CORPUS = [
    "今天去三里屯探店，拿铁28元一杯，味道还不错，环境也很安静。",
    "这款面霜用了一个月，皮肤明显变好了 😍🔥 #护肤[话题]#",
    "姐妹们冲！私信我领优惠券，vx: abc123，限时到手价¥99",
    "酒店位置很好，早餐一般，服务态度不错，下次还会再来。",
    "外卖送得很快，包装也很好，就是有点咸。",
    "本条笔记由品牌方赞助，感谢邀请试用。#ad",
    "Hello world, the iPhone 15 Pro is great.",
]
RECOMBINED = "味道还不错，皮肤明显变好了，服务态度很好 🔥"  # new text, made of kept pieces


@pytest.fixture(scope="session")
def e5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cached = default_base_dir()
    if is_complete(cached, file_sha256(find_bundled_bin())):
        return cached
    return convert(tmp_path_factory.getbasetemp() / "e5-base")  # reused if converted already


@pytest.fixture(scope="module")
def small_dir(e5_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compact(e5_dir, tmp_path_factory.mktemp("compact") / "small", iter(CORPUS), KEEP)


@pytest.fixture(scope="module")
def meta(small_dir: Path) -> dict:
    return json.loads((small_dir / COMPACT_META).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tokenizers(e5_dir: Path, small_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(e5_dir)), AutoTokenizer.from_pretrained(str(small_dir))


@pytest.mark.parametrize(("piece", "kept"), [
    ("▁", True), ("好", True), ("▁好", True), ("a", True), ("▁Z", True), ("7", True),
    ("，", True), ("。", True), ("!", True), ("¥", True), ("😍", True), ("🔥", True),
    ("\ufe0f", True), ("好好", False), ("▁de", False), ("é", False), ("ы", False), ("", False),
])
def test_is_fallback_piece(piece: str, kept: bool) -> None:
    assert is_fallback_piece(piece) is kept


def test_read_texts_jsonl_csv_and_lines(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(
        '{"title": "标题", "text": "正文"}\n\n{"text": ""}\n{"desc": "描述"}\n', encoding="utf-8")
    (tmp_path / "b.csv").write_text("label,review\n1,好评\n0,\n", encoding="utf-8")
    (tmp_path / "c.txt").write_text("第一行\n\n第二行\n", encoding="utf-8")
    paths = [tmp_path / n for n in ("a.jsonl", "b.csv", "c.txt")]
    assert list(read_texts(paths)) == ["标题\n正文", "描述", "好评", "第一行", "第二行"]


def test_read_texts_names_row_without_text_fields(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"text": "ok"}\n{"body": "x"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="none of the fields") as info:
        list(read_texts([tmp_path / "a.jsonl"]))
    assert info.value.row == 2 and info.value.field == "text"


def test_read_texts_bad_json_is_format_error(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("{not json\n", encoding="utf-8")
    with pytest.raises(FormatError, match="JSON Lines"):
        list(read_texts([tmp_path / "a.jsonl"]))


def test_compact_config_vocab_and_embedding_rows(e5_dir: Path, small_dir: Path, meta: dict,
                                                 tokenizers) -> None:
    from safetensors.torch import load_file

    config = json.loads((small_dir / "config.json").read_text(encoding="utf-8"))
    ids = meta["source_ids"]
    assert config["num_hidden_layers"] == KEEP and meta["keep_layers"] == KEEP
    assert config["vocab_size"] == len(ids) == len(tokenizers[1]) == meta["vocab_size"]
    assert ids[:4] == [0, 1, 2, 3] and ids == sorted(ids) and 250_001 in ids
    assert 9_000 < len(ids) < 12_000  # corpus pieces + single-character fallback
    full = load_file(str(e5_dir / "model.safetensors"))
    small = load_file(str(small_dir / "model.safetensors"))
    name = "embeddings.word_embeddings.weight"
    assert torch.equal(small[name], full[name][torch.tensor(ids)])
    assert not any(k.startswith(f"encoder.layer.{KEEP}.") for k in small)


def test_compact_tokenizer_keeps_special_ids(tokenizers) -> None:
    small = tokenizers[1]
    assert small.convert_tokens_to_ids(["<s>", "<pad>", "</s>", "<unk>"]) == [0, 1, 2, 3]
    assert small.convert_tokens_to_ids("<mask>") == len(small) - 1
    encoded = small("你好")["input_ids"]
    assert encoded[0] == 0 and encoded[-1] == 2


@pytest.mark.parametrize("text", CORPUS + [RECOMBINED])
def test_compact_gives_same_ids_mapped(tokenizers, meta: dict, text: str) -> None:
    full, small = tokenizers
    ids = meta["source_ids"]
    expected = full(text)["input_ids"]
    assert set(expected) <= set(ids)  # precondition: the full segmentation uses kept pieces
    assert [ids[i] for i in small(text)["input_ids"]] == expected


def test_compact_unseen_text_has_no_unk(tokenizers) -> None:
    small = tokenizers[1]
    encoded = small("去年冬天在哈尔滨看冰雕，冻得瑟瑟发抖 ❄️ 但值了！")["input_ids"]
    assert small.unk_token_id not in encoded


def test_compact_hidden_states_match_truncated_full(e5_dir: Path, small_dir: Path,
                                                    tokenizers) -> None:
    from transformers import XLMRobertaModel

    full_tok, small_tok = tokenizers
    full = XLMRobertaModel.from_pretrained(str(e5_dir), add_pooling_layer=False).eval()
    small = XLMRobertaModel.from_pretrained(str(small_dir), add_pooling_layer=False).eval()
    texts = CORPUS + [RECOMBINED]
    with torch.no_grad():
        fb = full_tok(texts, padding=True, return_tensors="pt")
        sb = small_tok(texts, padding=True, return_tensors="pt")
        expected = full(**fb, output_hidden_states=True).hidden_states[KEEP]
        got = small(**sb).last_hidden_state
    mask = fb["attention_mask"].bool()
    assert torch.equal(mask, sb["attention_mask"].bool())
    torch.testing.assert_close(got[mask], expected[mask], atol=1e-4, rtol=1e-4)


def test_compact_min_count_drops_rare_pieces(e5_dir: Path, meta: dict, tmp_path: Path) -> None:
    out = compact(e5_dir, tmp_path / "c2", CORPUS * 2 + CORPUS[:1], keep_layers=1, min_count=3)
    meta2 = json.loads((out / COMPACT_META).read_text(encoding="utf-8"))
    assert meta2["vocab_size"] < meta["vocab_size"]
    assert meta2["corpus_pieces"] < meta["corpus_pieces"]


@pytest.mark.parametrize(("layers", "min_count"), [(0, 1), (13, 1), (2, 0)])
def test_compact_rejects_bad_arguments(e5_dir: Path, tmp_path: Path, layers: int,
                                       min_count: int) -> None:
    with pytest.raises(ValueError, match="expected"):
        compact(e5_dir, tmp_path / "o", CORPUS, layers, min_count)


def test_compact_rejects_empty_corpus_and_missing_base(e5_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no texts"):
        compact(e5_dir, tmp_path / "o", [], 2)
    with pytest.raises(ModelError, match="not a complete model folder"):
        compact(tmp_path / "missing", tmp_path / "o", CORPUS, 2)


def test_cli_writes_folder_and_reports_size(e5_dir: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "notes.jsonl"
    corpus.write_text("\n".join(json.dumps({"title": "", "text": t}, ensure_ascii=False)
                                for t in CORPUS), encoding="utf-8")
    out = tmp_path / "cli"
    code = compact_mod.main(["--base", str(e5_dir), "--out", str(out), "--layers", "1",
                             "--texts", str(corpus)])
    assert code == 0 and "1 layers" in capsys.readouterr().out
    assert (out / "model.safetensors").is_file() and (out / COMPACT_META).is_file()
