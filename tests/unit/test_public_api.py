"""The package's public surface is exactly __all__, and importing it is cheap and side-effect free."""

from __future__ import annotations

import subprocess
import sys

import classifier


def test_public_api_all_is_exact() -> None:
    public = {name for name in vars(classifier) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(classifier, name)).__name__ == "module"}
    assert public - modules == set(classifier.__all__)
    for name in classifier.__all__:
        assert getattr(classifier, name) is not None


def test_public_api_import_loads_no_torch_or_jieba() -> None:
    code = "import sys, classifier; print(sorted(m for m in ('torch', 'transformers', 'jieba', 'sklearn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
