"""Search sweeps: per (method, sparsity) cell, Optuna proposes fine-tuning values through Ray
Tune (optionally with ASHA), selecting on validation accuracy only; the best values are written
to ``best_hparams.json`` for a later comparison sweep (``run --hparams``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
from mlflow import MlflowClient
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from search_spaces.spec import Cell, SearchParam, SearchSpec, SweepSpec
from trainables.adapters.prune_finetune import prune_finetune_trainable
from trainables.config import HP_PREFIX, apply_sampled, to_dict
from trainables.runtime import Runtime
from tune_app.errors import UserError
from tune_app.interrupt import fit
from tune_app.sweep import Resources, make_tuner
from tune_app.tracking import close_orphaned_trial_runs


def optuna_distribution(p: SearchParam) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution of one searched field."""
    lo_hi = p.values
    if p.kind == "loguniform":
        return optuna.distributions.FloatDistribution(lo_hi[0], lo_hi[1], log=True)
    if p.kind == "uniform":
        return optuna.distributions.FloatDistribution(lo_hi[0], lo_hi[1])
    if p.kind == "randint":
        return optuna.distributions.IntDistribution(int(lo_hi[0]), int(lo_hi[1]))
    return optuna.distributions.CategoricalDistribution(list(p.values))


def make_searcher(search: SearchSpec, study: str, storage: Path, seed: int) -> OptunaSearch:
    """OptunaSearch on val_acc; TPE, or GridSampler when every dimension is a grid. The study
    lives in a sqlite file under the runs dir, so it outlives the driver."""
    space = {HP_PREFIX + p.field: optuna_distribution(p) for p in search.params}
    if search.is_grid:
        sampler: optuna.samplers.BaseSampler = optuna.samplers.GridSampler(
            {HP_PREFIX + p.field: list(p.values) for p in search.params}, seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed)
    storage.parent.mkdir(parents=True, exist_ok=True)
    return OptunaSearch(
        space=space, metric="val_acc", mode="max", sampler=sampler, study_name=study,
        storage=optuna.storages.RDBStorage(f"sqlite:///{storage}"),
    )


def _search_cell(spec: SweepSpec, cell: Cell, runtime: Runtime, res: Resources, resume: bool,
                 optuna_db: Path) -> dict | None:
    search = spec.search
    assert search is not None
    name = f"{runtime.sweep}.search.{cell.method}.s{cell.sparsity:g}"
    scheduler = None
    if search.scheduler == "asha":
        # One report per epoch plus the final one: max_t covers the whole schedule.
        scheduler = ASHAScheduler(metric="val_acc", mode="max", time_attr="training_iteration",
                                  max_t=spec.finetune_for(cell.method).epochs + 1,
                                  grace_period=1, reduction_factor=2)
    space = {"trial": to_dict(spec.trial_config(cell)), "recipe": "search", "search": True}
    tuner = make_tuner(
        prune_finetune_trainable, space, name, runtime, res, search.num_samples,
        f"search {cell.method} s={cell.sparsity:g}", resume,
        search_alg=make_searcher(search, name, optuna_db, cell.seed), scheduler=scheduler,
        num_samples=search.num_samples,
    )
    grid = fit(tuner)
    # Samples the scheduler stopped may not have closed their runs before Tune ended them.
    close_orphaned_trial_runs(MlflowClient(tracking_uri=runtime.tracking_uri),
                              runtime.experiment_id, search=True)
    best, best_score = None, float("-inf")
    for result in grid:
        metrics = result.metrics or {}
        score = metrics.get("best_val_acc", metrics.get("val_acc"))
        if result.error is None and score is not None and score > best_score:
            best_score = score
            sampled = apply_sampled(to_dict(spec.trial_config(cell)), result.config)["finetune"]
            best = {"params": {p.field: sampled[p.field] for p in search.params},
                    "val_acc": float(score), "trial_dir": Path(result.path).name,
                    "trials": len(grid)}
    return best


def run_search_stage(spec: SweepSpec, runtime: Runtime, res: Resources, reports_dir: Path,
                     resume: bool) -> Path:
    """One Optuna search per (method, sparsity) on the first seed; writes best_hparams.json."""
    seed = spec.seeds[0]
    optuna_db = Path(runtime.runs_dir) / "optuna" / f"{runtime.sweep}.db"
    best: dict[str, dict[str, Any]] = {}
    for method, sparsity in spec.method_sparsities():
        print(f"search: {method} s={sparsity:g}: {spec.search.num_samples} sample(s) "
              f"on seed {seed}", flush=True)
        found = _search_cell(spec, Cell(method, sparsity, seed), runtime, res, resume, optuna_db)
        if found is not None:
            best.setdefault(method, {})[f"{sparsity:g}"] = found
            print(f"search: {method} s={sparsity:g}: best val_acc "
                  f"{100 * found['val_acc']:.1f}% with {found['params']}", flush=True)
    out = reports_dir / runtime.sweep / "best_hparams.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"sweep": runtime.sweep, "selected_on": "val_acc", "seed": seed, "best": best}
    out.write_text(json.dumps(payload, indent=2, sort_keys=True))
    return out


def cell_recipes_from(path: Path, spec: SweepSpec) -> tuple:
    """Per-cell overrides from a search sweep's best_hparams.json (nearest searched sparsity
    of the same method when the exact one was not searched)."""
    if not path.is_file():
        raise UserError(f"--hparams: {path} not found (run the search sweep first)")
    try:
        best = json.loads(path.read_text())["best"]
    except (ValueError, KeyError) as exc:
        raise UserError(f"--hparams: {path} is not a best_hparams.json ({exc})") from None
    out = []
    for method, sparsity in spec.method_sparsities():
        entries = best.get(method)
        if entries:
            nearest = min(entries, key=lambda s: abs(float(s) - sparsity))
            out.append((method, sparsity, tuple(sorted(entries[nearest]["params"].items()))))
    return tuple(out)
