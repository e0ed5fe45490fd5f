"""Frozen configuration dataclasses, their canonical form, hash and flattened (dotted) view."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class DataConfig:
    """Which data set and how much of it a run uses (None = all).

    Where the files live is not part of it (see ``trainables.data.load_splits``), so moving the
    data directory does not invalidate dense caches."""

    name: str = "cifar10"
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    augment: bool = True


@dataclass(frozen=True)
class ModelConfig:
    """A registered model and its width multiplier."""

    name: str = "resnet18"
    width: float = 1.0


@dataclass(frozen=True)
class Recipe:
    """An SGD + cosine training recipe with early stopping on validation accuracy.

    ``patience`` = 0 disables early stopping (the full schedule runs)."""

    epochs: int = 200
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    label_smoothing: float = 0.0
    patience: int = 0
    eval_batch_size: int = 512


@dataclass(frozen=True)
class MeasureConfig:
    """How the measurement step times a trial's model against its dense baseline
    (``pruning.deploy.latency``): warm-up calls, timed forwards per block, blocks, the throughput
    batch size, CPU threads (0: every core of the node, reserved for measuring), and whether
    masked models are also timed on sparse (CSR) kernels."""

    warmup: int = 3
    repeats: int = 10
    throughput_batch: int = 64
    sparse_kernels: bool = True
    blocks: int = 5
    threads: int = 0


@dataclass(frozen=True)
class SaveConfig:
    """How a masked (unstructured) model's artifact is stored: ``format`` ``auto`` (the
    smaller of bitmask and CSR), ``bitmask`` or ``csr``; ``values`` of CSR ``fp32`` (exact) or
    ``fp16`` (half the bytes, rounded). Structured models always save their smaller dense
    network."""

    format: str = "auto"
    values: str = "fp32"


SAVE_FORMATS = ("auto", "bitmask", "csr")
SAVE_VALUES = ("fp32", "fp16")


@dataclass(frozen=True)
class DenseConfig:
    """Everything that determines a dense baseline; its hash names the dense cache entry."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    recipe: Recipe = field(default_factory=Recipe)
    seed: int = 0
    rewind_epoch: int = 1


@dataclass(frozen=True)
class TrialConfig:
    """One stage-2 trial: a (method, sparsity, seed) cell on top of a dense baseline."""

    dense: DenseConfig = field(default_factory=DenseConfig)
    method: str = "magnitude"
    sparsity: float = 0.5
    # The retraining recipe after pruning. For rewinding methods it is the dense recipe's
    # optimizer settings, resolved by ``SweepSpec.trial_config``; see trainables.retraining.
    finetune: Recipe = field(default_factory=lambda: Recipe(epochs=100, lr=0.01, patience=10))
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    save: SaveConfig = field(default_factory=SaveConfig)
    # The method's parameters as sorted (name, value) pairs; only those set, defaults implied.
    method_params: tuple[tuple[str, Any], ...] = ()

    @property
    def seed(self) -> int:
        return self.dense.seed


def to_dict(cfg: Any) -> dict[str, Any]:
    """Nested plain-dict form of a config dataclass (fields in declaration order)."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a (nested) config dataclass from ``to_dict`` output; unknown keys are an error."""
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        sub = _dataclass_type(cls, name)
        if sub is not None and isinstance(value, dict):
            value = from_dict(sub, value)
        elif typing.get_origin(hints[name]) is tuple and isinstance(value, list | tuple):
            value = _tuples(value)  # JSON turned tuples into lists; frozen configs need tuples
        kwargs[name] = value
    return cls(**kwargs)


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list | tuple) else value


def _dataclass_type(cls: type, name: str) -> type | None:
    default = next(f for f in fields(cls) if f.name == name)
    if default.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = default.default_factory()  # type: ignore[misc]
        return type(value) if is_dataclass(value) else None
    return None


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return dataclasses.MISSING


def non_default(cfg: Any, default: Any = None) -> dict[str, Any]:
    """The fields of ``cfg`` that differ from ``default`` (else each field's own default),
    nested configs reduced the same way and left out when nothing in them differs; fields
    without a default are always kept."""
    out: dict[str, Any] = {}
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        base = getattr(default, f.name) if default is not None else _field_default(f)
        if is_dataclass(value) and type(value) is type(base):
            sub = non_default(value, base)
            if sub:
                out[f.name] = sub
        elif value != base:
            out[f.name] = to_dict(value) if is_dataclass(value) else value
    return out


def canonical(cfg: Any) -> str:
    """Canonical string: the class name and the JSON of its non-default fields (as open_lth
    does), so adding a field with a default renames no cache. Tests pin known hashes."""
    body = json.dumps(non_default(cfg), separators=(",", ":"), sort_keys=True)
    return f"{type(cfg).__name__}:{body}"


def config_hash(cfg: Any, length: int = 12) -> str:
    """Short SHA-256 of the canonical string: names caches and tags MLflow runs."""
    return hashlib.sha256(canonical(cfg).encode()).hexdigest()[:length]


def flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted-key view of a config (``finetune.lr``, ``dense.recipe.epochs``) for MLflow params."""
    data = to_dict(cfg) if is_dataclass(cfg) else cfg
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def replace_dotted(cfg: T, overrides: dict[str, Any]) -> T:
    """Return ``cfg`` with dotted-key overrides applied (``{"finetune.lr": 0.05}``)."""
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            nested[head] = value
    changes: dict[str, Any] = {}
    names = {f.name for f in fields(cfg)}  # type: ignore[arg-type]
    for head, value in nested.items():
        if head not in names:
            raise ValueError(f"unknown config key {head!r} in {type(cfg).__name__}")
        current = getattr(cfg, head)
        changes[head] = replace_dotted(current, value) if isinstance(value, dict) else value
    return dataclasses.replace(cfg, **changes)  # type: ignore[type-var]


HP_PREFIX = "hp_"  # keys a searcher adds to a Tune config: hp_<finetune field>
_INT_FIELDS = ("batch_size", "epochs", "patience", "eval_batch_size")


def apply_sampled(trial: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """A TrialConfig dict with a searcher's sampled fine-tuning values (``hp_lr``...) applied."""
    finetune = dict(trial["finetune"])
    for key, value in config.items():
        if key.startswith(HP_PREFIX):
            name = key[len(HP_PREFIX):]
            finetune[name] = int(value) if name in _INT_FIELDS else value
    return {**trial, "finetune": finetune}
