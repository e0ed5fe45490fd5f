"""Stage 2 under Ray Tune: one (method, sparsity, seed) trial, a thin wrapper around
``trainables.trial.run_trial`` that records it as exactly one MLflow run."""

from __future__ import annotations

from typing import Any

from ray import tune

from pruning.schema import trial_label
from trainables.adapters.ray_node import node_id
from trainables.adapters.tracking import TrackedRun
from trainables.adapters.tune_reporter import TuneReporter
from trainables.config import TrialConfig, apply_sampled, config_hash, from_dict
from trainables.plugins import load_plugins
from trainables.runtime import Runtime
from trainables.trial import run_trial


def trial_key(sweep: str, cfg: TrialConfig) -> str:
    """Stable identity of a trial's MLflow run: the same cell and config map to one run."""
    return f"trial/{sweep}/{cfg.method}/{cfg.sparsity:g}/{cfg.seed}/{config_hash(cfg)}"


def trial_tags(cfg: TrialConfig, runtime: Runtime, recipe: str) -> dict[str, str]:
    """Tags every trial run carries (the README's "What is recorded" lists them)."""
    try:
        trial_id = tune.get_context().get_trial_id() or "local"
    except Exception:  # noqa: BLE001 - outside Tune
        trial_id = "local"
    return {
        "role": "trial", "method": cfg.method, "sparsity": f"{cfg.sparsity:g}",
        "seed": str(cfg.seed), "sweep": runtime.sweep, "trial_id": trial_id,
        "config_hash": config_hash(cfg), "dense_config_hash": config_hash(cfg.dense),
        "git_sha": runtime.git_sha, "recipe": recipe,
        **({"search": "true"} if recipe == "search" else {}),
    }


def prune_finetune_trainable(config: dict[str, Any], runtime: Runtime) -> None:
    """Tune function trainable for one stage-2 cell; ``config["trial"]`` is a TrialConfig dict."""
    load_plugins()
    cfg = from_dict(TrialConfig, apply_sampled(config["trial"], config))
    label = trial_label(cfg.method, cfg.sparsity, cfg.seed)
    run = TrackedRun.open(
        runtime.tracking_uri, runtime.experiment_id, key=trial_key(runtime.sweep, cfg),
        run_name=label,
        tags=trial_tags(cfg, runtime, config.get("recipe", "default")),
        parent_run_id=runtime.parent_run_id,
    )
    try:
        run.set_tags({"node_id": node_id()})
        final = run_trial(cfg, runtime.trial_env(), TuneReporter(run, label, runtime.sweep))
        run.finish()
    except SystemExit as stop:
        if config.get("search"):
            # A search scheduler (ASHA) stopped this sample early: an expected ending.
            run.set_tags({"stopped_early": "true"})
            run.finish()
        else:
            run.fail(stop)
        raise
    except BaseException as exc:
        run.fail(exc)
        raise
    # Reported after the run is FINISHED: Tune may end the function while this call returns.
    # val_acc is the selected (best) one, which is what a searcher compares.
    tune.report({**final, "val_acc": final["best_val_acc"], "done": True})
