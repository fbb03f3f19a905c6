"""The ONNX Runtime backend against torch, on the tiny test encoder exported at test time."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from classifier.encoder import EncoderModel
from classifier.errors import ModelError
from classifier.onnx_backend import (
    ONNX_FP32,
    ONNX_INT8,
    ONNX_META,
    OnnxEncoderModel,
    RawTokenizer,
    fast_artifact,
    micro_batches,
)
from classifier.types import LABELS
from tests.conftest import ONNX_TEXTS

TEXTS = ONNX_TEXTS


@pytest.fixture()
def onnx_dir(onnx_encoder_dir: Path) -> Path:
    return onnx_encoder_dir


def test_onnx_export_writes_graphs_and_metadata(onnx_dir: Path) -> None:
    meta = json.loads((onnx_dir / ONNX_META).read_text("utf-8"))
    assert (onnx_dir / ONNX_FP32).is_file() and (onnx_dir / ONNX_INT8).is_file()
    assert meta["files"] == [ONNX_FP32, ONNX_INT8]
    assert meta["tokenizer"] == "raw"
    assert meta["check"]["n"] == len(TEXTS) and meta["check"]["label_agreement"] == 1.0
    assert fast_artifact(onnx_dir) == onnx_dir / ONNX_INT8


def test_onnx_fp32_matches_torch_probabilities(onnx_dir: Path) -> None:
    torch_model = EncoderModel.load(onnx_dir)
    fast = OnnxEncoderModel.load(onnx_dir, file=ONNX_FP32)
    np.testing.assert_allclose(fast.logits(TEXTS), torch_model.logits(TEXTS), atol=1e-4)
    np.testing.assert_allclose(fast.predict_proba_texts(TEXTS), torch_model.predict_proba_texts(TEXTS),
                               atol=1e-5)


def test_onnx_int8_agrees_with_torch_labels(onnx_dir: Path) -> None:
    p_torch = EncoderModel.load(onnx_dir).predict_proba_texts(TEXTS)
    p_int8 = OnnxEncoderModel.load(onnx_dir).predict_proba_texts(TEXTS)
    assert p_int8.shape == (len(TEXTS), len(LABELS))
    np.testing.assert_allclose(p_int8.sum(axis=1), 1.0)
    assert (p_int8.argmax(axis=1) == p_torch.argmax(axis=1)).all()
    diff = np.abs(p_int8 - p_torch)  # the head is scaled x200: int8 errors are magnified here
    assert diff.mean() < 0.05 and diff.max() < 0.15


def test_onnx_keeps_the_encoder_interface(onnx_dir: Path) -> None:
    from classifier.model import Classifier
    from classifier.types import Note

    fast = OnnxEncoderModel.load(onnx_dir)
    torch_model = EncoderModel.load(onnx_dir)
    assert isinstance(fast, Classifier)
    assert fast.version == "tiny-encoder@t1+onnx-int8-attention"  # the default scope: attention only
    assert OnnxEncoderModel.load(onnx_dir, file=ONNX_FP32).version == "tiny-encoder@t1+onnx-fp32"
    assert fast.encode(TEXTS) == torch_model.encode(TEXTS)  # same tokens, truncation, special tokens
    assert fast.predict_proba([Note(id="a", title="广告", text="加薇信")]).shape == (1, 3)
    assert fast.predict_proba_texts([]).shape == (0, 3)


@pytest.mark.parametrize(("batch_size", "max_tokens"), [(1, 10_000), (3, 10_000), (64, 64), (64, 10_000)])
def test_onnx_batching_and_order_do_not_change_scores(onnx_dir: Path, batch_size: int, max_tokens: int) -> None:
    fast = OnnxEncoderModel.load(onnx_dir, file=ONNX_FP32)
    reference = fast.predict_proba_texts(TEXTS)
    fast.batch_size, fast.max_tokens = batch_size, max_tokens
    np.testing.assert_allclose(fast.predict_proba_texts(TEXTS), reference, atol=1e-6)
    np.testing.assert_allclose(fast.predict_proba_texts(TEXTS[::-1])[::-1], reference, atol=1e-6)


def test_onnx_run_hook_sees_every_sequence(onnx_dir: Path) -> None:
    fast = OnnxEncoderModel.load(onnx_dir)
    seen: list[int] = []
    fast.on_run = lambda runs, seconds: seen.extend(int(mask.shape[0]) for _, mask in runs)
    fast.batch_size = 4
    fast.predict_proba_texts(TEXTS)
    assert sum(seen) == len(TEXTS) and max(seen) <= 4


def test_onnx_parallel_runs_give_the_same_logits_bit_for_bit(onnx_dir: Path) -> None:
    fast = OnnxEncoderModel.load(onnx_dir)
    assert fast.batch_size == 1 and fast.parallel_runs >= 1
    fast.parallel_runs = 1
    alone = fast.logits(TEXTS * 3)
    fast.parallel_runs = 2
    together = fast.logits(TEXTS * 3)
    assert fast._pool is not None  # the runs did go through the pool
    np.testing.assert_array_equal(together, alone)


def test_onnx_raw_tokenizer_matches_transformers(tiny_encoder_dir: Path) -> None:
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(str(tiny_encoder_dir))
    raw = RawTokenizer.load(tiny_encoder_dir)
    assert raw(TEXTS)["input_ids"] == auto(TEXTS, add_special_tokens=False)["input_ids"]
    assert (raw.cls_token_id, raw.sep_token_id, raw.pad_token_id) == (
        auto.cls_token_id, auto.sep_token_id, auto.pad_token_id)


def test_onnx_stale_graph_is_ignored(onnx_dir: Path, tmp_path: Path) -> None:
    stale = tmp_path / "stale"
    shutil.copytree(onnx_dir, stale)
    meta = json.loads((stale / ONNX_META).read_text("utf-8"))
    meta["weights_sha256"] = "0" * 64
    (stale / ONNX_META).write_text(json.dumps(meta), "utf-8")
    assert fast_artifact(stale) is None
    (stale / ONNX_META).unlink()
    assert fast_artifact(stale) is None


def test_onnx_load_refuses_a_folder_without_graph(tiny_encoder_dir: Path) -> None:
    assert fast_artifact(tiny_encoder_dir) is None
    with pytest.raises(ModelError, match="training.export"):
        OnnxEncoderModel.load(tiny_encoder_dir)


def test_onnx_export_skips_up_to_date_graphs(onnx_dir: Path) -> None:
    from training.export import ExportOptions, export_encoder

    said: list[str] = []
    before = (onnx_dir / ONNX_INT8).stat().st_mtime_ns
    export_encoder(onnx_dir, ExportOptions(check=0), TEXTS, log=said.append)
    assert "up to date" in said[0] and (onnx_dir / ONNX_INT8).stat().st_mtime_ns == before


@pytest.mark.parametrize("lengths", [[], [5], [3, 9, 1, 7, 7, 2], list(range(40, 0, -1))])
@pytest.mark.parametrize(("batch_size", "max_tokens"), [(1, 100), (4, 100), (16, 20)])
def test_onnx_micro_batches_cover_each_note_once_in_length_order(
    lengths: list[int], batch_size: int, max_tokens: int
) -> None:
    batches = list(micro_batches(lengths, batch_size, max_tokens))
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths)
    for b in batches:
        assert 1 <= len(b) <= batch_size
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= max_tokens


def test_onnx_int8_scores_of_a_note_do_not_depend_on_its_batch(onnx_dir: Path) -> None:
    fast = OnnxEncoderModel.load(onnx_dir)
    assert fast.batch_size == 1  # dynamic int8 scales activations per run: one note per run
    together = fast.predict_proba_texts(TEXTS)
    for i, text in enumerate(TEXTS):
        np.testing.assert_array_equal(fast.predict_proba_texts([text])[0], together[i])
    assert OnnxEncoderModel.load(onnx_dir, file=ONNX_FP32).batch_size > 1


def test_onnx_cascade_section_in_the_model_card_is_replaced_not_repeated() -> None:
    from training.export import FAST_SECTION, card_with_fast_path

    row = {"share_first": 0.5, "macro_f1_combined": 0.9, "ad_f1_combined": 0.8, "macro_f1_model": 0.7}
    result = {"first": "lexical", "first_version": "lex@1", "tau": 0.9, "max_drop": 0.005,
              "val": {"exact": row, "fast": row}, "test": {"exact": row, "int8": row, "fast": row}}
    card = "# Card\n\n## Evaluation\nx\n\n## Known limits\n- y\n"
    once = card_with_fast_path(card, result)
    twice = card_with_fast_path(once, {**result, "tau": 0.8})
    assert once.count(FAST_SECTION) == twice.count(FAST_SECTION) == 1
    assert once.index(FAST_SECTION) < once.index("## Known limits")
    assert "tau = 0.8" in twice and "tau = 0.9" not in twice
    assert "| test / fast | 50.0% | 0.9000 | 0.8000 | 0.7000 |" in twice
    assert twice.endswith("## Known limits\n- y\n")


def _float_feed_forward(graph: Path, intermediate: int) -> int:
    from training.export import feed_forward_nodes

    return len(feed_forward_nodes(graph, intermediate))


def test_onnx_int8_scope_keeps_the_feed_forward_layers_fp32_by_default(onnx_dir: Path, tmp_path: Path) -> None:
    from training.export import ExportOptions, export_encoder

    hf = json.loads((onnx_dir / "config.json").read_text("utf-8"))
    layers, inter = int(hf["num_hidden_layers"]), int(hf["intermediate_size"])
    meta = json.loads((onnx_dir / ONNX_META).read_text("utf-8"))
    assert meta["int8"]["scope"] == "attention" and meta["int8"]["fp32_nodes"] == 2 * layers
    assert _float_feed_forward(onnx_dir / ONNX_FP32, inter) == 2 * layers
    assert _float_feed_forward(onnx_dir / ONNX_INT8, inter) == 2 * layers  # still fp32 MatMuls there

    every = tmp_path / "enc"
    shutil.copytree(onnx_dir, every)
    said: list[str] = []
    export_encoder(every, ExportOptions(check=0, int8_scope="all"), TEXTS, log=said.append)
    assert not any("up to date" in s for s in said)  # another scope is another graph
    assert json.loads((every / ONNX_META).read_text("utf-8"))["int8"]["scope"] == "all"
    assert _float_feed_forward(every / ONNX_INT8, inter) == 0  # every feed-forward weight quantised
    assert (every / ONNX_INT8).stat().st_size < (onnx_dir / ONNX_INT8).stat().st_size
    assert OnnxEncoderModel.load(every).version == "tiny-encoder@t1+onnx-int8"  # all int8: no scope named


def test_export_options_refuse_an_unknown_int8_scope() -> None:
    from training.export import ExportOptions

    with pytest.raises(ValueError, match="int8_scope"):
        ExportOptions(int8_scope="ffn")


def _tau_row(tau: float, share: float, model: float, combined: float) -> dict[str, float]:
    return {"tau": tau, "share_first": share, "macro_f1_model": model, "macro_f1_combined": combined,
            "ad_f1_combined": combined}


def test_cascade_tau_is_the_cheapest_within_the_drop_and_a_second_set_can_veto_it() -> None:
    from training.export import choose_tau

    exact = {"macro_f1_model": 0.90, "macro_f1_combined": 0.95}
    grid = [_tau_row(0.5, 0.99, 0.80, 0.90), _tau_row(0.75, 0.90, 0.899, 0.948),
            _tau_row(0.9, 0.80, 0.90, 0.95), _tau_row(1.0, 0.0, 0.90, 0.95)]
    assert choose_tau(grid, exact, 0.005) == 0.75  # 0.5 loses 5 points; 0.75 settles most within 0.5 pt
    dev_exact = {"macro_f1_model": 0.85, "macro_f1_combined": 0.95}
    dev = [_tau_row(0.5, 0.95, 0.7, 0.80), _tau_row(0.75, 0.85, 0.8, 0.89),
           _tau_row(0.9, 0.66, 0.85, 0.945), _tau_row(1.0, 0.0, 0.85, 0.95)]
    assert choose_tau(grid, exact, 0.005, also=(dev, dev_exact, 0.01)) == 0.9
    assert choose_tau(grid, exact, 0.005, also=(dev, dev_exact, 0.07)) == 0.75
    with pytest.raises(ValueError, match="other set"):
        choose_tau(grid, exact, 0.005, also=([*dev[:3], _tau_row(1.0, 0.0, 0.8, 0.90)], dev_exact, 0.001))
    with pytest.raises(ValueError, match="follow the validation grid"):
        choose_tau(grid, exact, 0.005, also=(dev[::-1], dev_exact, 0.01))
    with pytest.raises(ValueError, match="not even"):
        choose_tau([_tau_row(1.0, 0.0, 0.5, 0.5)], exact, 0.005)


def test_the_card_says_when_tau_was_chosen_on_an_evaluation_set() -> None:
    from training.export import card_with_fast_path

    row = {"tau": 0.9, "share_first": 0.5, "macro_f1_combined": 0.9, "ad_f1_combined": 0.8, "macro_f1_model": 0.7}
    alone = {**row, "tau": 0.75, "share_first": 0.85, "macro_f1_combined": 0.8919}
    result = {"first": "lexical", "first_version": "lex@1", "tau": 0.9, "max_drop": 0.005,
              "chosen_on": {"set": "dev", "eval_max_drop": 0.01, "exact": {**row, "macro_f1_combined": 0.9546},
                            "validation_choice": alone, "grid": [alone, row]},
              "graphs": {"encoder": {"int8": {"scope": "attention", "per_channel": True},
                                     "check": {"n": 200, "label_agreement": 1.0, "max_abs_prob_diff": 0.06,
                                               "mean_abs_prob_diff": 0.001, "texts": "the validation split"}}},
              "val": {"exact": row, "fast": row}, "eval:dev": {"exact": row, "int8": row, "fast": row}}
    card = card_with_fast_path("# Card\n\n## Known limits\n- y\n", result)
    assert "**and on the evaluation set `dev`**" in card and "not a held-out figure" in card
    assert "Validation alone would choose tau = 0.75, which settles 85.0% of `dev`" in card
    assert "0.8919 there against 0.9546" in card
    assert "quantises the attention blocks (the feed-forward layers stay fp32)" in card
    assert "200 notes (the validation split): label agreement 1.0000" in card


def test_rewrite_card_keeps_the_fast_path_section_and_says_where_tau_was_chosen(tmp_path: Path) -> None:
    from training.card import FAST_SECTION, rewrite_card

    shipped = Path(__file__).resolve().parents[2] / "models" / "notecheck-base"
    for name in ("meta.json", "metrics.json", "notecheck.json", "MODEL_CARD.md"):
        shutil.copy(shipped / name, tmp_path / name)
    before = (tmp_path / "MODEL_CARD.md").read_text("utf-8")
    section = before[before.index(FAST_SECTION):before.index("## Known limits")]
    rewrite_card(tmp_path)
    after = (tmp_path / "MODEL_CARD.md").read_text("utf-8")
    assert after.count(FAST_SECTION) == 1 and section.strip() in after
    assert after.index(FAST_SECTION) < after.index("## Known limits") < after.index("## Reproduce")
    chosen_on = json.loads((tmp_path / "notecheck.json").read_text("utf-8"))["cascade"].get("chosen_on")
    assert chosen_on and f"evaluation set `{chosen_on}`: the fast path's cascade threshold" in after
    assert after == before  # the shipped card is what its files and this module write


def test_the_card_names_the_candidates_it_was_kept_over(tmp_path: Path) -> None:
    from training.card import _kept_over

    meta = {"name": "m", "version": "1", "created": "2026-01-01T00:00:00+00:00"}
    path = tmp_path / "candidates.json"
    assert _kept_over(meta, path) == []  # no comparison made
    path.write_text(json.dumps({"kept": meta, "retrained": {**meta, "version": "2", "created": "2026-02-01"}}), "utf-8")
    (line,) = _kept_over(meta, path)
    assert "rather than the 1 retrained candidate(s) `retrained`" in line
    assert _kept_over({**meta, "created": "2025-12-31"}, path) == []  # another model of that name and version


def test_the_card_shows_the_export_forms_and_unseen_writers_only_of_its_own_model(tmp_path: Path) -> None:
    from training.card import _forms, _unseen

    meta = {"name": "m", "version": "1", "created": "2026-01-01T00:00:00+00:00"}
    forms = tmp_path / "training" / "results" / "forms.json"
    forms.parent.mkdir(parents=True)
    assert _forms(meta, forms) == []
    fig = {"n": 3, "macro_f1": 0.9, "undisclosed_ad_f1": 0.8, "undisclosed_ad_recall": 0.7, "genuine_flagged_ad": 0.0}
    forms.write_text(json.dumps({"model": "m@1+onnx", "data": "d.jsonl",
                                 "forms": {"as given": {"what": "as is", **fig}}}), "utf-8")
    section = "\n".join(_forms(meta, forms))
    assert "## Export forms" in section and "| as given | as is | 0.900 | 0.700 | 0.0% |" in section
    assert _forms({**meta, "version": "2"}, forms) == []
    pins = tmp_path / "tests" / "data" / "pins.json"
    pins.parent.mkdir(parents=True)
    pins.write_text(json.dumps({"model": "m@1+onnx", "sets": {"unseen_writers": {**fig, "files": [
        {**fig, "path": "training/data/seed_w12.jsonl", "first_committed": "2026-02-01T00:00:00+00:00"}]}}}), "utf-8")
    unseen = "\n".join(_unseen(meta, pins))
    assert "## Writers this model never saw" in unseen and "| w12 | 3 | 0.900 |" in unseen
    assert "first committed after the model was trained" in unseen
    assert _unseen({**meta, "name": "other"}, pins) == []
