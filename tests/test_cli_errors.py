"""Bad input: one clear line on stderr, exit 2, nothing started, nothing recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import cli
from tune_app.cli import main

SMOKE = ["run", "--space", "smoke", "--dataset", "synthetic"]


SPACE_FILES = {
    "bad_space": "extends: smoke\nsparsities: [0.5, 2]\n",
    "rewind_beyond": "extends: smoke\nrewind_epoch: 5\n",
    "rewind_at_end": "extends: smoke\nmethods: [lottery]\nrewind_epoch: 2\n",
    "csr_structured": "extends: smoke\nsave: {format: csr, values: fp16}\n",
    "csr_values": "extends: smoke\nmethods: [rigl]\nsave: {values: fp8}\n",
    "no_layers": "extends: dynamic-smoke\nmodel: {name: pooling_only}\nmethods: [rigl]\n",
    "bad_reference": "extends: smoke\nreference: bogus\n",
    "bad_name": 'name: "bad name/x"\nextends: smoke\n',
    "bad_yaml": "extends: smoke\nmethods: [magnitude\nseeds: [0]\n",
}


def _space_files(argv: list[str], tmp: Path) -> list[str]:
    out = []
    for arg in argv:
        for key, text in SPACE_FILES.items():
            if arg == "{" + key + "}":
                (tmp / f"{key}.yaml").write_text(text)
                arg = str(tmp / f"{key}.yaml")
        out.append(arg)
    return out


CASES = [
    (["run", "--space", "nope"], "unknown space 'nope'"),
    ([*SMOKE, "--methods", "magnitude,bogus"], "unknown method 'bogus'"),
    ([*SMOKE, "--methods", "magnitude,,lottery"], "empty item"),
    (["run", "--space", "smoke", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    ([*SMOKE, "--sparsities", "0.5,1.5"], "outside (0, 1)"),
    ([*SMOKE, "--sparsities", "0"], "outside (0, 1)"),
    ([*SMOKE, "--sparsities", "half"], "'half' is not a number"),
    ([*SMOKE, "--sparsities", "0.5,0.5"], "duplicate"),
    ([*SMOKE, "--seeds", "x"], "'x' is not an integer"),
    ([*SMOKE, "--seeds", "-3"], "seeds"),
    ([*SMOKE, "--name", "bad name!"], "--name"),
    ([*SMOKE, "--cpus-per-trial", "0"], "--cpus-per-trial"),
    ([*SMOKE, "--max-concurrent", "0"], "--max-concurrent"),
    ([*SMOKE, "--max-failures", "-1"], "--max-failures"),
    ([*SMOKE, "--bogus-flag"], "unrecognized arguments"),
    (["frobnicate"], "invalid choice"),
    ([*SMOKE, "--mlflow-uri", "./mlruns"], "unsupported MLflow URI"),
    ([*SMOKE, "--mlflow-uri", "http://127.0.0.1:9/"], "unreachable"),
    (["run", "--space", "{bad_space}"], "sparsities: 2.0 is outside"),
    (["run", "--space", "missing.yaml"], "does not exist"),
    (["run", "--space", "smoke", "--dataset", "cifar10", "--no-download"], "CIFAR-10"),
    (["spaces", "--show", "nope"], "unknown space"),
    ([*SMOKE, "--storage", "ftp://host/x"], "unsupported storage"),
    ([*SMOKE, "--storage", "s3://bucket/x?endpoint_override=h"], "query string"),
    ([*SMOKE, "--storage", "gs://"], "names no bucket"),
    ([*SMOKE, "--hparams", "never-searched"], "best_hparams.json not found"),
    ([*SMOKE, "--methods", "imp", "--method-param", "imp.rat=0.2"],
     "--method-param imp: unknown parameter 'rat' (known: rate)"),
    ([*SMOKE, "--methods", "imp", "--method-param", "imp.rate=1.5"],
     "--method-param imp.rate: must be in (0, 1), got 1.5"),
    ([*SMOKE, "--methods", "imp", "--method-param", "imp.rate=0"], "must be in (0, 1), got 0"),
    ([*SMOKE, "--methods", "imp", "--method-param", "rate=0.2"], "expected METHOD.KEY=VALUE"),
    ([*SMOKE, "--methods", "magnitude,unpruned", "--sparsities", "0,0.5"],
     "only the unpruned control runs at sparsity 0"),
    ([*SMOKE, "--methods", "gmp", "--method-param", "gmp.start=0.6"],
     "--method-param gmp.end: must come after start (0.6), got 0.5"),
    ([*SMOKE, "--methods", "gmp", "--method-param", "gmp.end=1.2"],
     "--method-param gmp.end: must be within [0, 1], got 1.2"),
    (["run", "--space", "{rewind_beyond}"], "rewind_epoch: must be within 0..dense.epochs (2)"),
    (["resume", "nope"], "no sweep named 'nope'"),
    (["status", "nope"], "no sweep named 'nope'"),
    (["analyze", "nope"], "no sweep named 'nope'"),
    (["measure", "nope"], "no sweep named 'nope'"),
    (["analyze", "a", "--compare", "b", "a"], "--compare: each sweep once, got a b a"),
    (["measure", "nope", "--device", "tpu"], "--device: 'tpu' is not one of cpu, cuda, cuda:N"),
    (["measure", "nope", "--threads", "-1"], "--threads: must be at least 0, got -1"),
    (["measure", "nope", "--blocks", "0"], "--blocks: must be at least 1, got 0"),
    (["run", "--space", "{bad_reference}"], "reference: unknown method 'bogus'"),
    ([*SMOKE, "--connect-timeout", "-1"], "--connect-timeout must be a positive number"),
    (["ui", "--port", "70000"], "--port 70000 is not a TCP port"),
    (["run", "--space", "{rewind_at_end}"], "lottery: no retraining epochs left"),
    ([*SMOKE, "--methods", "structured", "--method-param", "structured.ratio=2"],
     "--method-param structured: unknown parameter 'ratio' (known: allocation, round_to, "
     "min_keep, exclude)"),
    ([*SMOKE, "--methods", "fpgm", "--method-param", "fpgm.round_to=0"],
     "--method-param fpgm.round_to: must be at least 1, got 0"),
    ([*SMOKE, "--methods", "sfp", "--method-param", "sfp.allocation=best"],
     "--method-param sfp.allocation: must be one of uniform, global, got 'best'"),
    ([*SMOKE, "--methods", "group_norm", "--method-param", "group_norm.reg=0"],
     "--method-param group_norm.reg: must be > 0, got 0"),
    ([*SMOKE, "--methods", "structured", "--sparsities", "0.95", "--method-param",
      "structured.exclude=[layer4.*]"],
     "structured at sparsity 0.95: sparsity 0.95 cannot be reached by removing channels"),
    ([*SMOKE, "--methods", "group_l1", "--method-param", "group_l1.exclude=[layer9.conv1]"],
     "group_l1 at sparsity 0.5: exclude: 'layer9.conv1' names no Conv2d or Linear layer"),
    (["sensitivity", "rewinding-smoke"],
     "space 'rewinding-smoke' has no structured method (fpgm, group_l1, group_norm, sfp, "
     "structured, taylor)"),
    (["sensitivity", "smoke", "--ratios", "0.5,1"], "--ratios: 1 is outside (0, 1)"),
    (["sensitivity", "nope"], "unknown space 'nope'"),
    ([*SMOKE, "--methods", "rigl", "--method-param", "rigl.drop_fraction=1"],
     "--method-param rigl.drop_fraction: must be in (0, 1), got 1"),
    ([*SMOKE, "--methods", "set", "--method-param", "set.drop_fraction=-0.1"],
     "--method-param set.drop_fraction: must be in (0, 1), got -0.1"),
    ([*SMOKE, "--methods", "dsr", "--method-param", "dsr.update_every=0"],
     "--method-param dsr.update_every: must be at least 1 step, got 0"),
    ([*SMOKE, "--methods", "rigl", "--method-param", "rigl.allocation=global"],
     "--method-param rigl.allocation: must be one of uniform, erk, got 'global'"),
    (["run", "--space", "{csr_structured}"],
     "save.format: csr stores masked weights, but structured remove channels"),
    (["run", "--space", "{csr_values}"], "save.values: must be one of fp32, fp16, got 'fp8'"),
    (["run", "--space", "{bad_name}"],
     "the space's name 'bad name/x' (or give --name): a sweep name uses letters"),
    (["run", "--space", "{bad_name}", "--dry-run"], "the space's name 'bad name/x'"),
    (["run", "--space", "{bad_yaml}"], "bad_yaml.yaml: not valid YAML at line 3, column 6: "
     "expected ',' or ']'"),
    ([*SMOKE, "--sparsities", "50,90"], "(sparsities are fractions: did you mean 0.5,0.9?)"),
    ([*SMOKE, "--method-param", "imp.rate=0.3"],
     "--method-param imp.rate=0.3: 'imp' is not among this sweep's methods (magnitude, "
     "structured, lottery"),
    ([*SMOKE, "--cpus-per-trial", "4096"], "--cpus-per-trial 4096 is more than this machine's"),
    (["status", "../etc"], "sweep '../etc': a sweep name uses letters"),
    (["resume", "a b"], "sweep 'a b': a sweep name uses letters"),
    (["run", "--space", "{no_layers}"],
     "rigl at sparsity 0.9: allocation erk: the model has no prunable (Conv2d or Linear) "
     "layers"),
    ([*SMOKE, "--methods", "nm", "--sparsities", "0.5", "--method-param", "nm.n=4"],
     "--method-param nm.n: must be within 1..3 (below m = 4), got 4"),
    ([*SMOKE, "--methods", "nm", "--sparsities", "0.5", "--method-param", "nm.m=128"],
     "--method-param nm.m: must be within 2..64, got 128"),
    ([*SMOKE, "--methods", "nm", "--sparsities", "0.7"],
     "nm: sparsity 0.7: 2:4 sparsity is 0.5; set sparsities to 0.5 for nm"),
    ([*SMOKE, "--methods", "nm", "--sparsities", "0.5", "--method-param", "nm.n=1"],
     "nm: sparsity 0.5: 1:4 sparsity is 0.75; set sparsities to 0.75 for nm"),
    ([*SMOKE, "--methods", "random", "--method-param", "random.allocation=layerwise"],
     "--method-param random.allocation: must be one of erk, global, matched, uniform, got "
     "'layerwise'"),
    ([*SMOKE, "--methods", "snip", "--method-param", "snip.batches=0"],
     "--method-param snip.batches: must be at least 1, got 0"),
    ([*SMOKE, "--methods", "taylor", "--method-param", "taylor.batches=0"],
     "--method-param taylor.batches: must be at least 1, got 0"),
    ([*SMOKE, "--methods", "static", "--method-param", "static.allocation=global"],
     "--method-param static.allocation: must be one of uniform, erk, got 'global'"),
    ([*SMOKE, "--methods", "static", "--method-param", "static.drop_fraction=0.3"],
     "--method-param static: unknown parameter 'drop_fraction' (known: allocation)"),
    ([*SMOKE, "--methods", "lamp", "--method-param", "lamp.allocation=erk"],
     "--method-param lamp: unknown parameter 'allocation' (known: none)"),
]


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(c[0][-2:]) for c in CASES])
def test_bad_input_exits_2_with_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("PRUNE_SWEEP_PLUGINS", "tests.plugins.no_layers")
    runs = tmp_path / "runs"
    argv = _space_files(argv, tmp_path)
    if argv[0] in ("run", "resume", "status", "analyze", "sensitivity", "measure"):
        argv = [*argv, "--runs-dir", str(runs)]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("prune-sweep: error: ")
    assert message in lines[0]
    assert not (runs / "mlflow.db").exists()
    assert not (runs / "storage" / "tune").exists()


def test_unwritable_runs_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main([*SMOKE, "--runs-dir", str(blocker / "runs")]) == 2
    assert "cannot write to" in capsys.readouterr().err


def test_real_process_prints_no_traceback(tmp_path: Path) -> None:
    proc = cli(*SMOKE, "--sparsities", "7", "--runs-dir", str(tmp_path / "runs"), timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == ("prune-sweep: error: --sparsities: 7.0 is outside (0, 1) "
                                   "(sparsities are fractions: did you mean 0.07?)")


def test_dry_run_prints_trial_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    code = main([*SMOKE, "--dry-run", "--seeds", "0,1", "--runs-dir", str(runs)])
    out = capsys.readouterr().out
    assert code == 0
    # 3 methods x 2 sparsities x 2 seeds, and the unpruned control once per seed.
    assert "14 trial(s)" in out and "2 dense baseline(s)" in out
    assert out.count("structured") == 4
    assert not runs.exists()
