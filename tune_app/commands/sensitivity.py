"""``prune-sweep sensitivity SPACE``: Li et al.'s layer sensitivity on a seed's dense baseline.

The baseline comes from the dense cache (the one a sweep of the space uses), trained here
first when it is missing. Each prunable layer alone loses 10%..90% of its filters and the
unretrained network is evaluated on the validation split. Written to
``<runs dir>/reports/sensitivity-<space>-seed<S>/`` (table, figure in three formats, JSON) and
logged to MLflow as an analysis run of the experiment ``sensitivity-<space>``. Layers that lose
more than ``--max-drop`` at ``--probe`` are listed with the ``exclude`` parameter that keeps
them whole in a structured sweep."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from search_spaces.spec import SweepSpec
from tune_app.arguments import parse_list
from tune_app.commands import options_from
from tune_app.errors import UserError
from tune_app.options import SensitivityOptions

CRITERIA = ("l1_filter", "l2_filter", "fpgm", "group_l1", "group_norm")


def add_parser(sub: Any, common: Any) -> None:
    """The ``sensitivity`` subcommand's flags."""
    p = sub.add_parser("sensitivity", help="layer sensitivity to filter pruning (Li et al. "
                       "2017) on a space's dense baseline")
    p.add_argument("space", help="named space or a YAML file")
    p.add_argument("--seed", type=int, help="whose dense baseline (default: the space's first)")
    p.add_argument("--dataset", help="overrides the space's data set")
    p.add_argument("--ratios", default="0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9",
                   help="fractions of a layer's filters to remove (default 0.1..0.9)")
    p.add_argument("--criterion", default="l1_filter", choices=CRITERIA,
                   help="which filters go first (default l1_filter, Li et al.)")
    p.add_argument("--probe", type=float, default=0.5,
                   help="ratio at which sensitivity is judged (default 0.5)")
    p.add_argument("--max-drop", type=float, default=0.05,
                   help="a layer is sensitive when accuracy at --probe falls by more than "
                   "this fraction (default 0.05 = 5 points)")
    p.add_argument("--data-dir", help="data directory (default <runs dir>/data)")
    p.add_argument("--storage", help="where the dense cache is (default <runs dir>/storage)")
    p.add_argument("--no-download", action="store_true", help="never download data sets")
    common(p)


def _spec(opts: SensitivityOptions) -> tuple[SweepSpec, list[str]]:
    """The space (validated) and its structured methods; one line when it has none."""
    from pruning.methods import METHODS, method_class
    from pruning.methods._channel import ChannelMethod
    from search_spaces.loader import SpaceError, load
    from search_spaces.validation import validate
    from trainables.datasets import DATASETS
    from trainables.models import MODELS
    from tune_app.arguments import load_user_plugins

    load_user_plugins()
    try:
        spec = load(opts.space)
        if opts.dataset:
            spec = spec.with_overrides({"data.name": opts.dataset})
        validate(spec, METHODS.names(), DATASETS.names(), MODELS.names())
    except SpaceError as exc:
        raise UserError(str(exc)) from None
    structured = [m for m in spec.methods if issubclass(method_class(m), ChannelMethod)]
    if not structured:
        family = ", ".join(n for n in METHODS.names()
                           if issubclass(method_class(n), ChannelMethod))
        raise UserError(f"space {spec.name!r} has no structured method ({family}): layer "
                        "sensitivity is about removing filters")
    return spec, structured


def _ratios(opts: SensitivityOptions) -> list[float]:
    ratios = parse_list(opts.ratios, float, "--ratios") or []
    for r in ratios:
        if not 0.0 < r < 1.0:
            raise UserError(f"--ratios: {r:g} is outside (0, 1)")
    if not 0.0 < opts.probe < 1.0:
        raise UserError(f"--probe must be in (0, 1), got {opts.probe:g}")
    if not 0.0 < opts.max_drop < 1.0:
        raise UserError(f"--max-drop must be in (0, 1), got {opts.max_drop:g}")
    return sorted(set(ratios) | {opts.probe})


def sensitivity_command(args: argparse.Namespace) -> int:
    """Run the analysis; 0 when it was written and logged."""
    opts = options_from(SensitivityOptions, args)
    spec, structured = _spec(opts)
    ratios = _ratios(opts)
    seed = spec.seeds[0] if opts.seed is None else opts.seed
    if seed < 0:
        raise UserError(f"--seed must be >= 0, got {seed}")
    from tune_app.paths import layout
    from tune_app.tracking import check_reachable, resolve_tracking_uri

    paths = layout(opts.runs_dir, opts.storage, opts.data_dir, timeout_s=opts.timeout_s)
    uri = resolve_tracking_uri(opts.mlflow_uri, paths.runs_dir)
    check_reachable(uri, opts.timeout_s)
    from trainables.data import DataUnavailableError, load_splits

    try:
        splits = load_splits(spec.data, seed, paths.data_dir, download=not opts.no_download)
    except (DataUnavailableError, ValueError) as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    import torch

    from pruning.channels.groups import find_groups
    from pruning.sensitivity import layer_sensitivity, sensitive_layers
    from trainables.models import build_model, classifier_head

    # Before any training: a model without channel groups has nothing to analyze.
    probe = build_model(spec.model.name, num_classes=splits.num_classes,
                        width=spec.model.width, in_channels=splits.in_channels).eval()
    if not find_groups(probe, torch.zeros(1, splits.in_channels, 32, 32),
                       classifier_head(probe)):
        raise UserError(f"model {spec.model.name} has no layer whose filters can be removed")
    model, baseline, evaluate, device = _baseline(spec, seed, splits, paths, opts)

    print(f"pruning each layer alone at {', '.join(f'{r:g}' for r in ratios)} of its filters "
          f"({opts.criterion}), evaluating {len(splits.val_y)} validation images on {device}",
          flush=True)
    started = time.monotonic()
    example = torch.zeros(1, splits.in_channels, 32, 32)
    try:
        groups, points = layer_sensitivity(model, evaluate, example, classifier_head(model),
                                           ratios, opts.criterion,
                                           progress=lambda line: print(line, flush=True))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    sensitive = sensitive_layers(points, baseline, opts.probe, opts.max_drop)
    out = paths.reports_dir / f"sensitivity-{spec.name}-seed{seed}"
    files = _write(out, spec, seed, opts, baseline, points, sensitive, structured)
    run_id = _log(uri, paths, spec, seed, opts, baseline, points, sensitive, files)
    print(f"done in {time.monotonic() - started:.1f}s; {len(groups)} layers")
    print(f"report: {out / 'sensitivity.md'}")
    print(f"MLflow analysis run: {run_id} (experiment sensitivity-{spec.name})")
    if sensitive:
        listed = ",".join(sensitive)
        print(f"sensitive (more than {100 * opts.max_drop:g} points lost at "
              f"{100 * opts.probe:g}% of filters): {', '.join(sensitive)}")
        print(f"to keep them whole: --method-param {structured[0]}.exclude=[{listed}]")
    else:
        print(f"no layer loses more than {100 * opts.max_drop:g} points at "
              f"{100 * opts.probe:g}% of its filters")
    return 0


def _baseline(spec: SweepSpec, seed: int, splits: Any, paths: Any, opts: SensitivityOptions
              ) -> tuple[Any, float, Any, Any]:
    """The seed's trained dense model (cached or trained now), its validation accuracy and
    the evaluation function."""
    from trainables.dense import build_dense_model, ensure_dense
    from trainables.dense_cache import DenseCache
    from trainables.evaluation import evaluate, pick_device
    from trainables.reporter import LocalReporter
    from trainables.runtime import TrialEnv

    cfg = spec.dense_config(seed)
    env = TrialEnv(storage=paths.storage.location, data_dir=str(paths.data_dir),
                   download=not opts.no_download)
    cache = DenseCache(env.storage, cfg)
    if cache.valid():
        print(f"dense baseline of seed {seed}: cached ({cache.location})", flush=True)
    else:
        print(f"dense baseline of seed {seed}: not cached, training {cfg.recipe.epochs} "
              f"epoch(s) first", flush=True)
        ensure_dense(cfg, env, LocalReporter())
    device = pick_device(env.device)
    model = build_dense_model(cfg, splits)
    model.load_state_dict(cache.weights("final"))
    batch = spec.finetune.eval_batch_size

    def val_acc(m: Any) -> float:
        return evaluate(m.to(device), splits.val_x, splits.val_y, splits, device, batch)[1]

    baseline = val_acc(model)
    print(f"unpruned validation accuracy {100 * baseline:.2f}%", flush=True)
    return model.cpu(), baseline, val_acc, device


def _write(out: Path, spec: SweepSpec, seed: int, opts: SensitivityOptions, baseline: float,
           points: list[Any], sensitive: list[str], structured: list[str]) -> list[Path]:
    from analysis.sensitivity_plot import plot_sensitivity, sensitivity_frame, sensitivity_table

    out.mkdir(parents=True, exist_ok=True)
    df = sensitivity_frame(points)
    title = (f"Layer sensitivity: {spec.model.name} x{spec.model.width:g} on {spec.data.name}, "
             f"seed {seed}")
    figures = plot_sensitivity(df, baseline, out / "sensitivity", title)
    df.to_csv(out / "sensitivity.csv", index=False)
    listed = ",".join(sensitive)
    md = [f"# {title}", "", sensitivity_table(df, baseline), "",
          f"Filters ranked by `{opts.criterion}`; each layer (channel group) pruned alone. "
          f"Sensitive: more than {100 * opts.max_drop:g} points lost at "
          f"{100 * opts.probe:g}% of its filters: {', '.join(sensitive) or 'none'}."]
    if sensitive:
        md += ["", "To keep them whole in a structured sweep:", "", "```yaml", "method_params:",
               *[f"  {m}: {{exclude: [{', '.join(sensitive)}]}}" for m in structured], "```",
               "", f"or `--method-param {structured[0]}.exclude=[{listed}]`."]
    (out / "sensitivity.md").write_text("\n".join(md) + "\n")
    (out / "sensitivity.json").write_text(json.dumps({
        "space": spec.name, "seed": seed, "criterion": opts.criterion,
        "baseline_val_acc": baseline, "probe": opts.probe, "max_drop": opts.max_drop,
        "sensitive": sensitive, "points": df.drop(columns="val_acc_pct").to_dict("records"),
    }, indent=2))
    return [out / "sensitivity.md", out / "sensitivity.csv", out / "sensitivity.json", *figures]


def _log(uri: str, paths: Any, spec: SweepSpec, seed: int, opts: SensitivityOptions,
         baseline: float, points: list[Any], sensitive: list[str], files: list[Path]) -> str:
    """One analysis run per call in the experiment ``sensitivity-<space>``."""
    from mlflow import MlflowClient

    from tune_app.tracking import artifact_root, get_or_create_experiment

    client = MlflowClient(tracking_uri=uri)
    name = f"sensitivity-{spec.name}"
    exp = get_or_create_experiment(client, name, artifact_root(uri, paths.runs_dir))
    run = client.create_run(exp, tags={
        "role": "analysis", "kind": "sensitivity", "space": spec.name, "seed": str(seed),
        "criterion": opts.criterion, "sensitive": ",".join(sensitive),
        "mlflow.runName": f"sensitivity {spec.name} seed={seed}"})
    rid = run.info.run_id
    client.log_param(rid, "probe", opts.probe)
    client.log_param(rid, "max_drop", opts.max_drop)
    client.log_metric(rid, "baseline_val_acc", baseline)
    for p in points:
        client.log_metric(rid, f"val_acc.{p.layer}", p.val_acc, step=int(round(100 * p.ratio)))
    for path in files:
        client.log_artifact(rid, str(path))
    client.set_terminated(rid, "FINISHED")
    return rid
