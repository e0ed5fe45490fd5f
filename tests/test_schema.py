"""The metrics schema (``pruning.schema``): every metric a consumer names is registered, once,
with a valid kind; timed metrics are what measurement sets replace; labels have one format;
and no module keeps its own copy of a metric tuple."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from analysis import measurements
from pruning import schema
from pruning.schema import (
    FINAL,
    KINDS,
    METRICS,
    REQUIRED,
    SUMMARY,
    TIMED,
    Metric,
    check_metrics,
    dense_label,
    of_kind,
    trial_label,
)
from tests.conftest import REPO

NAMED = {"FINAL": FINAL, "TIMED": TIMED, "SUMMARY": SUMMARY, "REQUIRED": REQUIRED}
# A literal with this many registered metric names is a copy of a schema tuple.
COPY_THRESHOLD = 4
SCANNED = ("analysis", "tune_app", "trainables")
EXEMPT = {Path("trainables/trial.py")}  # being rewritten separately; it adopts the schema next


@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_tuples_are_registered_without_duplicates(name: str) -> None:
    names = NAMED[name]
    assert isinstance(names, tuple) and names
    missing = [n for n in names if n not in METRICS]
    assert not missing, f"{name}: not in METRICS: {missing}"
    assert len(set(names)) == len(names), f"{name} repeats a metric"


def test_registry_is_consistent() -> None:
    for key, metric in METRICS.items():
        assert isinstance(metric, Metric) and metric.name == key
        assert metric.kind in KINDS, metric
        assert metric.unit and metric.doc, metric
    # of_kind walks the registry as declared: a name declared twice would count twice here.
    assert sum(len(of_kind(k)) for k in KINDS) == len(METRICS)
    with pytest.raises(ValueError, match="kind"):
        Metric("x", "s", "wallclock", "no such kind")
    with pytest.raises(ValueError, match="kind"):
        of_kind("wallclock")


def test_kinds_of_well_known_metrics() -> None:
    assert schema.kind_of("test_acc") == "accuracy"
    assert schema.kind_of("sparsity") == schema.kind_of("macs") == "counted"
    assert schema.kind_of("latency_ms_b1") == schema.kind_of("speedup_b1") == "timed"
    assert schema.kind_of("epochs_total") == schema.kind_of("optimizer_steps") == "budget"


def test_timed_is_what_measurement_sets_replace() -> None:
    # analysis.measurements.apply_set swaps exactly these columns for a later set's figures.
    assert measurements.TIMED is TIMED
    timed = set(of_kind("timed"))
    assert set(TIMED) <= timed, set(TIMED) - timed
    # Every timed column the analysis reads is swapped: none keeps the sweep's own timing
    # beside another set's. (Timed metrics outside TIMED are logged but never read.)
    read = {n for n in FINAL + SUMMARY if n in timed}
    assert read <= set(TIMED), read - set(TIMED)
    assert {n for n in TIMED if n in FINAL + SUMMARY} == read
    # Counted metrics are hardware-independent: a measurement set never touches them.
    assert not set(TIMED) & set(of_kind("counted"))


def test_tuples_keep_their_order() -> None:
    # Analysis columns and tables follow these orders: they must not change by accident.
    assert FINAL[:3] == ("test_acc", "best_val_acc", "sparsity") and len(FINAL) == 32
    assert FINAL[-2:] == ("dst.pruned_total", "dst.regrown_total")
    assert TIMED[0] == "latency_ms_b1" and TIMED[-1] == "speedup_sparse_throughput"
    assert len(TIMED) == 18
    assert SUMMARY[0] == "test_acc" and SUMMARY[-1] == "speedup_throughput"
    assert len(SUMMARY) == 17


def test_labels() -> None:
    assert trial_label("magnitude", 0.9, 0) == "magnitude s=0.9 seed=0"
    assert trial_label("imp", 0.5, 12) == "imp s=0.5 seed=12"
    assert trial_label("unpruned", 0.0, 1) == "unpruned s=0 seed=1"
    assert dense_label(3) == "dense seed=3"


def test_check_metrics_names_unknown_metrics() -> None:
    good = {"test_acc": 0.9, "epochs_total": 12, "prune.channel_ratio": 0.7}
    assert check_metrics(good) == good
    with pytest.raises(KeyError, match="test_accuracy"):
        check_metrics({"test_acc": 0.9, "test_accuracy": 0.9})


def test_timing_produces_only_registered_timed_metrics() -> None:
    torch = pytest.importorskip("torch")
    from pruning.deploy.latency import TimingPlan, time_pruned

    dense = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten())
    pruned = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.Flatten())
    out = time_pruned(dense, pruned, (3, 8, 8), TimingPlan(0, 1, 2, 2, 0, "cpu"))
    unknown = [k for k in out if k not in METRICS]
    assert not unknown, unknown
    assert {schema.kind_of(k) for k in out} == {"timed"}


def test_schema_imports_no_heavy_packages() -> None:
    code = ("import sys, pruning.schema; "
            "print(sorted(m for m in ('torch', 'ray', 'mlflow', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _metric_literals(tree: ast.AST) -> list[tuple[int, list[str]]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            names = [e.value for e in node.elts
                     if isinstance(e, ast.Constant) and isinstance(e.value, str)
                     and e.value in METRICS]
            if len(names) >= COPY_THRESHOLD:
                found.append((node.lineno, names))
    return found


def test_no_module_keeps_its_own_metric_tuple() -> None:
    copies = []
    for folder in SCANNED:
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO)
            if rel in EXEMPT:
                continue
            for line, names in _metric_literals(ast.parse(path.read_text(), str(path))):
                copies.append(f"{rel}:{line}: {names}")
    assert not copies, "metric names listed outside pruning.schema:\n" + "\n".join(copies)


def test_the_scan_finds_a_copy() -> None:
    assert _metric_literals(ast.parse('X = ("test_acc", "sparsity", "macs", "speedup_b1")'))
    assert not _metric_literals(ast.parse('X = ("test_acc", "sparsity", "sparsity_target")'))
