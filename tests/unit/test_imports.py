"""The import graph of the packages has no cycle.

Every ``import`` counts, also one inside a function (a lazy import still ties the two modules
together); only imports under ``if TYPE_CHECKING:`` are left out. An import of ``pkg.mod`` is an
edge to that module (not to ``pkg/__init__``), and ``from pkg import name`` is an edge to
``pkg.name`` when that is a module, else to ``pkg``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("classifier", "serving", "training")


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of :data:`PACKAGES`."""
    out: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _imports(child)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _imports(node)


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of :data:`PACKAGES` it imports."""
    files = module_files()
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text("utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in files else base)
            for target in targets:
                while target and target not in files:  # `import a.b.c` of a non-module tail
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 50  # the walk found the packages
    found = cycles(graph)
    detail = "\n".join(
        " <-> ".join(c) + "\n    " + "; ".join(f"{m} -> {sorted(graph[m] & set(c))}" for m in c)
        for c in found
    )
    assert not found, f"import cycles (a lazy import counts too):\n{detail}"


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_cycles_finds_strongly_connected_modules(
    graph: dict[str, set[str]], expected: list[list[str]]
) -> None:
    assert cycles(graph) == expected


def test_import_graph_counts_lazy_imports_and_skips_type_checking(tmp_path: Path) -> None:
    code = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x.hidden\n"
            "def f():\n    from x import lazy\n")
    names = [
        (n.module if isinstance(n, ast.ImportFrom) else n.names[0].name)
        for n in _imports(ast.parse(code))
    ]
    assert names == ["typing", "x"]


def test_model_kinds_import_the_base_never_the_registry() -> None:
    graph = import_graph()
    kinds = ("encoder", "lexical", "onnx_backend", "ensemble", "cascade")
    for kind in kinds:
        assert "classifier.registry" not in graph[f"classifier.{kind}"], kind
    assert not graph["classifier.model"] & {f"classifier.{k}" for k in kinds}
    assert "classifier.signals" not in graph["classifier.normalize"]


def test_registry_has_a_loader_for_every_model_kind() -> None:
    from classifier.model import KINDS
    from classifier.registry import LOADERS

    assert set(LOADERS) == set(KINDS)


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` imports, directly or through others (lazy imports count)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in graph[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_http_package_never_reaches_training() -> None:
    graph = import_graph()
    http = sorted(m for m in graph if m == "serving.http" or m.startswith("serving.http."))
    assert "serving.http.app" in http and "serving.http.routes.moderate" in http
    reached = {m: sorted(t for t in reachable(graph, m) if t.split(".")[0] == "training")
               for m in http}
    assert not {m: t for m, t in reached.items() if t}, (
        "the HTTP package reaches training (compose the CLI in serving.cli instead)")


def test_batch_and_report_packages_never_reach_training() -> None:
    graph = import_graph()
    for package in ("serving.batch", "serving.report"):
        for module in (m for m in graph if m == package or m.startswith(package + ".")):
            assert not {t for t in reachable(graph, module) if t.startswith("training")}, module


def test_cli_is_composed_in_one_place() -> None:
    """Only ``serving.cli`` puts the subcommands of the other packages together."""
    graph = import_graph()
    importers = sorted(m for m, targets in graph.items() if "training.cli" in targets)
    assert importers == ["serving.cli"]


def test_importing_every_http_module_loads_no_training_module() -> None:
    """At run time too: a fresh interpreter imports every module of serving.http (and builds
    the app) without ``training`` in ``sys.modules``."""
    import subprocess
    import sys

    modules = sorted(m for m in module_files() if m.startswith("serving.http"))
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n    importlib.import_module(name)\n"
            "from serving.http.app import create_app\ncreate_app()\n"
            "print(sorted(m for m in sys.modules if m == 'training' or m.startswith('training.')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
