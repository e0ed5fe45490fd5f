"""What a trial records: the one place that names its final metrics and its labels.

Training code logs final metrics under these names (``check_metrics`` catches a misspelt
one), analysis reads them through the named tuples (``FINAL``, ``TIMED``, ``SUMMARY``), and
progress lines, MLflow run names and reports label runs with ``trial_label`` and
``dense_label``. Standard library only: importable without torch, Ray or MLflow (the analysis
package and notebooks use it too).

Each metric has a kind:

* ``accuracy``: what the model gets right (test / validation accuracy, loss);
* ``counted``: read from the tensors or the saved file (sparsity, MACs, bytes, parameters,
  mask changes): the same on every machine;
* ``timed``: latency, throughput and the speedups derived from them, taken in the separate
  measurement step (``trainables.measurement``): they depend on the hardware that timed them,
  and a later measurement set replaces them (``analysis.measurements.apply_set``);
* ``budget``: what training cost (epochs, optimizer steps, rounds, where it stopped).

Per-epoch and per-round series (``val_acc``, ``train_loss``, ``round.sparsity``, ...) are not
final metrics and are not listed. Methods add their own ``prune.<key>`` metrics (what pruning
did, e.g. ``prune.channel_ratio``); only the two every trial may log are registered here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

KINDS = ("accuracy", "counted", "timed", "budget")
# Method-specific final metrics (``Method`` round info) are logged under this prefix.
PRUNE_PREFIX = "prune."


@dataclass(frozen=True)
class Metric:
    """One final metric: its MLflow name, unit, kind (one of ``KINDS``) and meaning."""

    name: str
    unit: str
    kind: str
    doc: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"metric {self.name!r}: kind must be one of {KINDS}, "
                             f"not {self.kind!r}")


_ALL = (
    # accuracy
    Metric("test_acc", "fraction", "accuracy",
           "accuracy on the test split of the selected (best-validation) model, computed once"),
    Metric("test_loss", "nats", "accuracy", "cross-entropy on the test split, same model"),
    Metric("best_val_acc", "fraction", "accuracy",
           "best validation accuracy over the selectable epochs (at the final sparsity)"),
    Metric("prune.val_acc_finalized", "fraction", "accuracy",
           "validation accuracy after ``finalize`` changed the model (soft filter pruning)"),
    # counted
    Metric("sparsity", "fraction", "counted",
           "1 - nonzero prunable parameters / prunable parameters of the dense model"),
    Metric("prune.sparsity_at_prune", "fraction", "counted",
           "the same, right after pruning the last round, before retraining"),
    Metric("params_nonzero", "parameters", "counted", "nonzero parameters, all layers"),
    Metric("params_total", "parameters", "counted", "parameters, all layers, zeros included"),
    Metric("macs", "MACs", "counted", "per-sample multiply-accumulates (masked layers scaled)"),
    Metric("macs_dense", "MACs", "counted", "per-sample multiply-accumulates of the dense model"),
    Metric("theoretical_speedup", "x", "counted", "macs_dense / macs"),
    Metric("size_bytes_dense", "bytes", "counted", "bytes of the dense model's saved state dict"),
    Metric("size_bytes_compact", "bytes", "counted", "bytes of the saved (compact) model file"),
    Metric("size_bytes_bitmask", "bytes", "counted", "a masked model saved as bitmask + values"),
    Metric("size_bytes_csr", "bytes", "counted", "a masked model saved as compressed sparse rows"),
    Metric("compression_ratio", "x", "counted", "size_bytes_dense / size_bytes_compact"),
    Metric("dst.pruned_total", "connections", "counted",
           "connections a dynamic method's mask updates dropped, in total"),
    Metric("dst.regrown_total", "connections", "counted",
           "connections a dynamic method's mask updates regrew, in total"),
    Metric("dst.updates", "updates", "counted", "mask updates of a dynamic method"),
    # timed (the measurement step, ``pruning.latency.time_pruned``)
    Metric("latency_ms_b1", "ms", "timed", "ms per forward at batch 1, median over blocks"),
    Metric("latency_ms_b1_spread", "ms", "timed", "max - min of latency_ms_b1's block medians"),
    Metric("latency_ms_b1_dense", "ms", "timed", "latency_ms_b1 of the dense model"),
    Metric("latency_ms_b1_dense_spread", "ms", "timed", "its spread over blocks"),
    Metric("speedup_b1", "x", "timed", "dense time / model time at batch 1, median over blocks"),
    Metric("speedup_b1_min", "x", "timed", "speedup_b1's lowest block"),
    Metric("speedup_b1_max", "x", "timed", "speedup_b1's highest block"),
    Metric("throughput", "images/s", "timed", "images/s at the throughput batch, median"),
    Metric("throughput_spread", "images/s", "timed", "max - min of throughput over blocks"),
    Metric("throughput_dense", "images/s", "timed", "throughput of the dense model"),
    Metric("throughput_dense_spread", "images/s", "timed", "its spread over blocks"),
    Metric("speedup_throughput", "x", "timed", "dense / model time at the throughput batch"),
    Metric("speedup_throughput_min", "x", "timed", "speedup_throughput's lowest block"),
    Metric("speedup_throughput_max", "x", "timed", "speedup_throughput's highest block"),
    Metric("latency_ms_b1_sparse", "ms", "timed", "latency_ms_b1 of a masked model on CSR kernels"),
    Metric("latency_ms_b1_sparse_spread", "ms", "timed", "its spread over blocks"),
    Metric("throughput_sparse", "images/s", "timed", "throughput of a masked model on CSR kernels"),
    Metric("throughput_sparse_spread", "images/s", "timed", "its spread over blocks"),
    Metric("sparse_ratio_b1", "x", "timed", "dense / sparse-kernel time at batch 1, median"),
    Metric("sparse_ratio_b1_min", "x", "timed", "sparse_ratio_b1's lowest block"),
    Metric("sparse_ratio_b1_max", "x", "timed", "sparse_ratio_b1's highest block"),
    Metric("sparse_ratio_throughput", "x", "timed", "the same at the throughput batch"),
    Metric("sparse_ratio_throughput_min", "x", "timed", "sparse_ratio_throughput's lowest block"),
    Metric("sparse_ratio_throughput_max", "x", "timed", "sparse_ratio_throughput's highest block"),
    Metric("speedup_sparse", "x", "timed",
           "sparse_ratio_b1, logged only where sparse kernels were faster in every block"),
    Metric("speedup_sparse_throughput", "x", "timed",
           "sparse_ratio_throughput, logged only where faster in every block"),
    Metric("sparse_layers_csr_b1", "layers", "timed",
           "layers run on CSR kernels at batch 1 (chosen by timing each layer)"),
    Metric("sparse_layers_csr_throughput", "layers", "timed", "the same at the throughput batch"),
    Metric("measure_threads", "threads", "timed", "CPU threads the measurement step timed with"),
    # budget
    Metric("best_epoch", "epochs", "budget", "epoch of the selected (best-validation) model"),
    Metric("stopped_epoch", "epochs", "budget", "epoch training stopped at"),
    Metric("stopped_lr", "learning rate", "budget", "learning rate when training stopped"),
    Metric("epochs_trained", "epochs", "budget", "training after pruning, every round included"),
    Metric("optimizer_steps", "steps", "budget", "optimizer steps after pruning, every round"),
    Metric("epochs_total", "epochs", "budget",
           "epochs_trained plus the dense epochs the result depends on"),
    Metric("rounds", "rounds", "budget", "pruning rounds of an iterative method"),
    Metric("rounds_cached", "rounds", "budget", "rounds taken from the shared round cache"),
    Metric("rounds_trained", "rounds", "budget", "rounds this trial trained itself"),
    Metric("train_time_s", "s", "budget",
           "wall-clock seconds the dense baseline trained (hardware-specific, not comparable "
           "across machines)"),
)

METRICS: Mapping[str, Metric] = MappingProxyType({m.name: m for m in _ALL})
"""Every registered final metric by name, in registry order."""

FINAL = (
    "test_acc", "best_val_acc", "sparsity", "params_nonzero", "params_total", "macs",
    "macs_dense", "theoretical_speedup", "latency_ms_b1", "latency_ms_b1_dense", "speedup_b1",
    "throughput", "throughput_dense", "speedup_throughput", "size_bytes_dense",
    "size_bytes_compact", "compression_ratio", "best_epoch", "stopped_epoch",
    "epochs_trained", "optimizer_steps", "epochs_total",
    "latency_ms_b1_sparse", "throughput_sparse", "sparse_ratio_b1", "sparse_ratio_throughput",
    "speedup_sparse", "speedup_sparse_throughput", "size_bytes_bitmask", "size_bytes_csr",
    "dst.pruned_total", "dst.regrown_total",
)
"""The final metrics ``analysis.load.load_runs`` reads from each run (one column each)."""

TIMED = (
    "latency_ms_b1", "latency_ms_b1_spread", "latency_ms_b1_dense", "speedup_b1",
    "speedup_b1_min", "speedup_b1_max", "throughput", "throughput_spread",
    "throughput_dense", "speedup_throughput", "speedup_throughput_min",
    "speedup_throughput_max", "latency_ms_b1_sparse", "throughput_sparse",
    "sparse_ratio_b1", "sparse_ratio_throughput", "speedup_sparse",
    "speedup_sparse_throughput",
)
"""The timed columns a measurement set replaces (``analysis.measurements.apply_set``): every
timed metric the analysis reads (``FINAL``, ``SUMMARY``)."""

SUMMARY = (
    "test_acc", "sparsity", "params_nonzero", "macs", "theoretical_speedup", "latency_ms_b1",
    "speedup_b1", "throughput", "size_bytes_compact", "compression_ratio", "epochs_trained",
    "epochs_total", "sparse_ratio_b1", "latency_ms_b1_spread", "speedup_b1_min",
    "speedup_b1_max", "speedup_throughput",
)
"""The metrics ``analysis.stats.summarize`` aggregates over seeds (``<metric>_mean``,
``_std``, ``_ci95``), which the tables and figures draw from."""

REQUIRED = (
    "test_acc", "sparsity", "params_nonzero", "macs", "latency_ms_b1", "speedup_b1",
    "throughput", "size_bytes_dense", "size_bytes_compact", "compression_ratio", "best_epoch",
    "stopped_epoch", "theoretical_speedup",
)
"""The final metrics every trial run of a finished grid sweep carries, whatever its method
(its measurement step included)."""


def kind_of(name: str) -> str:
    """The kind of metric ``name`` (one of ``KINDS``); KeyError when it is not registered."""
    return METRICS[name].kind


def of_kind(kind: str) -> tuple[str, ...]:
    """Names of the registered metrics of ``kind``, in registry order."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    return tuple(m.name for m in _ALL if m.kind == kind)


def check_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """``metrics`` as a dict, after checking that every name is registered in ``METRICS`` or is
    a method's ``prune.<key>``: a misspelt name fails where it is logged, not later in an
    analysis that finds the column empty. Raises KeyError naming the unknown ones."""
    unknown = [k for k in metrics if k not in METRICS and not k.startswith(PRUNE_PREFIX)]
    if unknown:
        raise KeyError(f"unregistered final metric(s) {unknown}: add them to pruning.schema")
    return dict(metrics)


def trial_label(method: str, sparsity: float, seed: int) -> str:
    """Human label of a trial (progress lines, MLflow run name, reports):
    ``magnitude s=0.9 seed=0``."""
    return f"{method} s={sparsity:g} seed={seed}"


def dense_label(seed: int) -> str:
    """Human label and MLflow run name of a seed's dense baseline: ``dense seed=0``."""
    return f"dense seed={seed}"
