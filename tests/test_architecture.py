"""The house rules the layout promises, checked on the source: no import cycle (deferred
imports included), the Ray-free core imports neither Ray nor MLflow, no module over 300 lines,
and every method's parts are registered names."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("pruning", "trainables", "tune_app", "analysis", "search_spaces")
sys.path.insert(0, str(REPO / "tools"))

import import_graph  # noqa: E402


def _sources(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (REPO / pkg).rglob("*.py"))


def test_no_import_cycle_even_through_deferred_imports() -> None:
    graph = import_graph.build_graph(import_graph.module_files(REPO, PACKAGES))
    assert import_graph.cycles(graph, ("module", "function")) == []


def test_the_tool_finds_a_cycle_closed_by_a_deferred_import(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from pkg import a\n")
    graph = import_graph.build_graph(import_graph.module_files(tmp_path, ("pkg",)))
    assert import_graph.cycles(graph) == []
    assert import_graph.cycles(graph, ("module", "function")) == [["pkg.a", "pkg.b", "pkg.a"]]


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", ["pruning", "trainables"])
def test_the_core_imports_neither_ray_nor_mlflow(package: str) -> None:
    adapters = REPO / "trainables" / "adapters"
    offending = [str(p.relative_to(REPO)) for p in _sources(package)
                 if adapters not in p.parents and _imported_roots(p) & {"ray", "mlflow"}]
    assert offending == []


def test_no_module_is_longer_than_300_lines() -> None:
    long = {str(p.relative_to(REPO)): n for p in _sources(*PACKAGES)
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 300}
    assert long == {}


def test_every_method_names_registered_parts() -> None:
    from pruning.allocation import ALLOCATIONS, SPARSITY_TYPES
    from pruning.channels.scores import CHANNEL_SCORES
    from pruning.dynamic import DROP_SCHEDULES, GROW_SCORES
    from pruning.methods import METHODS, method_class
    from pruning.methods._channel import ChannelMethod
    from pruning.methods._dynamic import DynamicSparseMethod
    from pruning.methods._oneshot import OneShotMethod
    from pruning.scores import SCORES

    families = {}
    for name in METHODS.names():
        cls = method_class(name)
        if issubclass(cls, OneShotMethod):
            assert cls.score in SCORES and cls.sparsity_type in SPARSITY_TYPES, name
            assert cls.allocation in ALLOCATIONS, name
            families[name] = "one-shot"
        elif issubclass(cls, DynamicSparseMethod):
            assert cls.grow_score in GROW_SCORES and cls.drop_schedule in DROP_SCHEDULES, name
            families[name] = "dynamic"
        elif issubclass(cls, ChannelMethod):
            assert cls.score in CHANNEL_SCORES, name
            families[name] = "channels"
    assert {families.get(n) for n in ("magnitude", "lottery", "imp", "random", "lr_rewind")} \
        == {"one-shot"}
    assert {families.get(n) for n in ("set", "rigl", "dsr")} == {"dynamic"}
    assert {families.get(n) for n in ("structured", "group_l1", "fpgm", "sfp",
                                      "group_norm")} == {"channels"}
