"""``prune-sweep run``: validate everything up front, then run both stages."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from typing import Any

from search_spaces.loader import SpaceError, load
from search_spaces.spec import SweepSpec
from search_spaces.validation import validate
from tune_app.arguments import check_name, default_name, load_user_plugins, parse_list
from tune_app.commands import options_from
from tune_app.errors import UserError
from tune_app.options import RunOptions
from tune_app.paths import RunsLayout, layout
from tune_app.tracking import check_reachable, resolve_tracking_uri


def resolve_spec(opts: RunOptions) -> SweepSpec:
    """The space named by ``--space`` with the command line's overrides, validated."""
    from pruning.methods import METHODS
    from trainables.datasets import DATASETS
    from trainables.models import MODELS

    load_user_plugins()
    try:
        spec = load(opts.space)
    except SpaceError as exc:
        raise UserError(str(exc)) from None
    overrides: dict = {}
    for flag, attr, kind in (("--methods", "methods", str), ("--sparsities", "sparsities", float),
                             ("--seeds", "seeds", int)):
        values = parse_list(getattr(opts, attr), kind, flag)
        if values is not None:
            overrides[attr] = values
    if opts.dataset:
        overrides["data.name"] = opts.dataset
    if opts.method_param:
        overrides["method_params"] = parse_method_params(opts.method_param, spec)
        _check_param_methods(opts.method_param, overrides.get("methods", spec.methods))
    if opts.name:
        name = check_name(opts.name)
    else:
        # A space file's own name becomes the default sweep name: a path, an experiment name.
        name = check_name(default_name(spec.name),
                          what=f"the space's name {spec.name!r} (or give --name)")
    overrides["name"] = name
    spec = spec.with_overrides(overrides)
    if opts.hparams:
        from tune_app.paths import resolve_runs_dir
        from tune_app.search import cell_recipes_from

        if spec.search is not None:
            raise UserError("--hparams applies to comparison sweeps, not to a search space")
        best = resolve_runs_dir(opts.runs_dir) / "reports" / check_name(opts.hparams) / \
            "best_hparams.json"
        spec = spec.with_overrides({"cell_recipes": cell_recipes_from(best, spec),
                                    "recipe_source": f"hparams:{opts.hparams}"})
    try:
        validate(spec, METHODS.names(), DATASETS.names(), MODELS.names())
    except SpaceError as exc:
        flag = {"methods": "--methods", "sparsities": "--sparsities", "seeds": "--seeds",
                "data.name": "--dataset", "method_params": "--method-param"}
        text = str(exc)
        for key, opt in flag.items():
            if text.startswith(key + ":") and key.split(".")[0] in {k.split(".")[0]
                                                                       for k in overrides}:
                text = opt + text[len(key):]
        if opts.method_param and text.startswith("method_params."):
            text = "--method-param " + text[len("method_params."):]
        raise UserError(text) from None
    return spec


def parse_method_params(items: Sequence[str], spec: SweepSpec) -> tuple:
    """``--method-param METHOD.KEY=VALUE`` (repeatable) merged over the space's parameters;
    values read as YAML scalars (0.2, 10, true, null)."""
    import yaml

    from search_spaces.spec import method_recipes

    merged = {m: dict(kv) for m, kv in spec.method_params}
    for item in items:
        target, sep, text = item.partition("=")
        method, dot, key = target.partition(".")
        if not (sep and dot and method and key and text.strip()):
            raise UserError(f"--method-param: expected METHOD.KEY=VALUE, got {item!r}")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise UserError(f"--method-param {target}: cannot read value {text!r}") from None
        merged.setdefault(method.strip(), {})[key.strip()] = value
    return method_recipes(merged)


def _check_param_methods(items: Sequence[str], methods: tuple[str, ...]) -> None:
    """A ``--method-param`` for a method the sweep does not run would silently do nothing."""
    for item in items:
        method = item.partition("=")[0].partition(".")[0].strip()
        if method not in methods:
            raise UserError(f"--method-param {item}: {method!r} is not among this sweep's "
                            f"methods ({', '.join(methods)})")


def print_plan(spec: SweepSpec) -> None:
    """The trial table of a sweep (``--dry-run`` prints only this)."""
    kind = (f"search: {spec.search.num_samples} sample(s) per cell, scheduler "
            f"{spec.search.scheduler}" if spec.search else f"recipe {spec.recipe_source}")
    print(f"sweep {spec.name}: {len(spec.seeds)} dense baseline(s), {spec.trial_count()} "
          f"trial(s) ({kind})")
    print(f"  data {spec.data.name} (train {spec.data.train_size or 'all'}, val "
          f"{spec.data.val_size or 'default'}, test {spec.data.test_size or 'all'}), "
          f"model {spec.model.name} x{spec.model.width:g}")
    print(f"  dense {spec.dense.epochs} epochs lr {spec.dense.lr:g}; rewind epoch "
          f"{spec.rewind_epoch}")
    from pruning.methods import method_class

    budget = "equal retraining budgets" if spec.equal_budget else "each method's own budget"
    print(f"  retraining: {budget}; epochs = retraining epochs after pruning (per round for "
          "iterative methods)")
    print(f"{'#':>3}  {'method':12} {'sparsity':>8} {'seed':>6} {'epochs':>6} {'lr':>8}  "
          "retraining")
    for i, cell in enumerate(spec.cells(), 1):
        cfg = spec.trial_config(cell)
        r, kind = cfg.finetune, method_class(cell.method).traits.retraining
        params = ", ".join(f"{k}={v}" for k, v in cfg.method_params)
        print(f"{i:3}  {cell.method:12} {cell.sparsity:8g} {cell.seed:6} {r.epochs:6} "
              f"{r.lr:8g}  {kind}{f' ({params})' if params else ''}")


def run_command(args: argparse.Namespace) -> int:
    """Run a sweep end to end; 0 when every trial finished, 1 when some failed."""
    opts = options_from(RunOptions, args)
    for flag, value in (("--cpus-per-trial", opts.cpus_per_trial),
                        ("--gpus-per-trial", opts.gpus_per_trial)):
        if value is not None and not value >= 0:
            raise UserError(f"{flag} must be >= 0, got {value}")
    if opts.cpus_per_trial <= 0:
        raise UserError("--cpus-per-trial must be > 0")
    if opts.max_concurrent is not None and opts.max_concurrent < 1:
        raise UserError("--max-concurrent must be at least 1")
    if opts.max_failures < 0:
        raise UserError("--max-failures must be >= 0")
    cores = os.cpu_count() or 1
    if not opts.address and opts.cpus_per_trial > cores:
        raise UserError(f"--cpus-per-trial {opts.cpus_per_trial:g} is more than this machine's "
                        f"{cores} CPUs (a local sweep runs here; --address joins a cluster)")
    spec = resolve_spec(opts)
    if opts.dry_run:
        print_plan(spec)
        return 0
    paths = layout(opts.runs_dir, opts.storage, opts.data_dir, timeout_s=opts.timeout_s)
    uri = resolve_tracking_uri(opts.mlflow_uri, paths.runs_dir)
    check_reachable(uri, opts.timeout_s)
    from tune_app.sweep_guard import check_new_name

    # Before Ray, torch or any data: a name in use is answered at once.
    check_new_name(uri, spec.name, paths.runs_dir, opts.timeout_s)
    if opts.no_download:
        from tune_app.data_check import check_offline

        check_offline(spec.data.name, paths.data_dir)
    from tune_app.cluster import preflight

    preflight(opts.address, opts.timeout_s)
    splits = _check_data(spec, paths, download=not opts.no_download)
    from tune_app.method_check import check_methods_on_model

    check_methods_on_model(spec, splits.num_classes, splits.in_channels)
    from tune_app.execute import execute_sweep

    print_plan(spec)
    return execute_sweep(spec, paths, uri, opts)


def _check_data(spec: SweepSpec, paths: RunsLayout, download: bool) -> Any:
    """Load (and if needed download or generate) the data once, before any trial starts;
    returns the splits of the first seed."""
    from trainables.data import DataUnavailableError, load_splits

    started = time.monotonic()
    try:
        splits = load_splits(spec.data, spec.seeds[0], paths.data_dir, download=download)
    except (DataUnavailableError, ValueError) as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    print(f"data {spec.data.name}: ready in {paths.data_dir} "
          f"({time.monotonic() - started:.1f}s)", flush=True)
    return splits
