"""Fine-tuning resumes from its checkpoint with torch.load(weights_only=True): never unpickling."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from classifier.errors import ModelError
from training.finetune import _save_checkpoint, load_train_state

RAN: list[str] = []


class _Payload:
    """An object whose unpickling runs code: what a tampered checkpoint could hold."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return RAN.append, ("unpickled",)


def _training_objects() -> tuple[torch.nn.Module, torch.optim.Optimizer, object]:
    from transformers import get_linear_schedule_with_warmup

    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, 1, 10)
    model(torch.ones(2, 4)).sum().backward()
    optimizer.step()
    scheduler.step()
    return model, optimizer, scheduler


def test_finetune_checkpoint_round_trips_with_weights_only(tmp_path: Path) -> None:
    model, optimizer, scheduler = _training_objects()
    _save_checkpoint(tmp_path, model, optimizer, scheduler, {"step": 1})
    blob = load_train_state(tmp_path / "train_state.pt")
    fresh, fresh_opt, fresh_sched = _training_objects()
    fresh.load_state_dict(blob["model"])
    fresh_opt.load_state_dict(blob["optimizer"])
    fresh_sched.load_state_dict(blob["scheduler"])  # type: ignore[attr-defined]
    assert torch.equal(fresh.weight, model.weight)


def test_finetune_checkpoint_with_a_pickled_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "train_state.pt"
    torch.save({"model": {}, "optimizer": {}, "scheduler": _Payload()}, path)
    with pytest.raises(ModelError, match="without --resume"):
        load_train_state(path)
    assert RAN == []


def test_finetune_resume_loads_with_weights_only() -> None:
    import inspect

    from training import finetune

    source = inspect.getsource(finetune)
    assert "weights_only=False" not in source
