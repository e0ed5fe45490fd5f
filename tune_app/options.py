"""What each command was asked to do, as typed, frozen values.

A command module (``tune_app.commands.<command>``) builds its options once from the parsed
command line (``tune_app.commands.options_from``); everything below the command layer takes
these objects, never an ``argparse.Namespace``. Field names are the flags' ``dest`` names;
``timeout_s`` is ``--connect-timeout`` resolved (``tune_app.waits.connect_timeout``)."""

from __future__ import annotations

from dataclasses import dataclass

from tune_app.waits import DEFAULT_S


@dataclass(frozen=True)
class RunOptions:
    """``prune-sweep run``."""

    space: str
    name: str | None
    dataset: str | None
    data_dir: str | None
    methods: str | None
    sparsities: str | None
    seeds: str | None
    method_param: tuple[str, ...]
    runs_dir: str | None
    mlflow_uri: str | None
    timeout_s: float
    storage: str | None
    address: str | None
    cpus_per_trial: float
    gpus_per_trial: float | None
    max_concurrent: int | None
    max_failures: int
    no_download: bool
    hparams: str | None
    dry_run: bool


@dataclass(frozen=True)
class ResumeOptions:
    """``prune-sweep resume``."""

    sweep: str
    runs_dir: str | None
    mlflow_uri: str | None
    timeout_s: float
    address: str | None
    max_failures: int | None


@dataclass(frozen=True)
class StatusOptions:
    """``prune-sweep status``."""

    sweep: str
    runs_dir: str | None
    mlflow_uri: str | None
    timeout_s: float


@dataclass(frozen=True)
class AnalyzeOptions:
    """``prune-sweep analyze``."""

    sweep: str
    out: str | None
    compare: tuple[str, ...]
    runs_dir: str | None
    mlflow_uri: str | None
    timeout_s: float
    measurement: str | None


@dataclass(frozen=True)
class MeasureOptions:
    """``prune-sweep measure``."""

    sweep: str
    device: str
    threads: int | None
    blocks: int | None
    repeats: int | None
    storage: str | None
    runs_dir: str | None
    mlflow_uri: str | None
    timeout_s: float


@dataclass(frozen=True)
class SensitivityOptions:
    """``prune-sweep sensitivity``."""

    space: str
    seed: int | None
    dataset: str | None
    ratios: str
    criterion: str
    probe: float
    max_drop: float
    data_dir: str | None
    storage: str | None
    no_download: bool
    runs_dir: str | None
    mlflow_uri: str | None
    timeout_s: float


@dataclass(frozen=True)
class UiOptions:
    """``prune-sweep ui``."""

    runs_dir: str | None
    mlflow_uri: str | None
    host: str
    port: int
    timeout_s: float = DEFAULT_S


@dataclass(frozen=True)
class ServerOptions:
    """``prune-sweep server``."""

    host: str
    port: int
    runs_dir: str | None
    artifacts_destination: str | None
    workers: int


@dataclass(frozen=True)
class SubmitOptions:
    """``prune-sweep submit``."""

    address: str
    timeout_s: float
    rest: tuple[str, ...]


@dataclass(frozen=True)
class SpacesOptions:
    """``prune-sweep spaces``."""

    show: str | None
