"""Trials never print a download progress bar: the driver prepares the data before trials
start, and trials (dense baselines and pruning trials) read it without downloading; where a
node lacks it they fetch it with the loader's output swallowed, in one line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import trainables.data as data
from trainables.config import DataConfig, DenseConfig, TrialConfig
from trainables.datasets.base import DataUnavailableError, RawData
from trainables.runtime import TrialEnv


class _NoisyLoader:
    """A registered loader as torchvision's behave: with ``download`` it prints what it does
    and a progress bar (tqdm writes to stderr); without, it reads what is there or fails."""

    def __init__(self, present: bool) -> None:
        self.present = present
        self.calls: list[bool] = []

    def __call__(self, data_dir: Path, download: bool) -> RawData:
        self.calls.append(download)
        if download:
            print("Downloading https://example.org/noisy.tar.gz")
            sys.stderr.write("\r 50%|#####     | 81.9M/163M\r100%|##########| 163M/163M\n")
            self.present = True
        if not self.present:
            raise DataUnavailableError("noisy: not found")
        x = torch.zeros(40, 3, 32, 32, dtype=torch.uint8)
        y = torch.arange(40) % 10
        return RawData(x, y, x[:20], y[:20], (0.5,) * 3, (0.25,) * 3,
                       tuple(str(i) for i in range(10)))


@pytest.fixture
def noisy(monkeypatch: pytest.MonkeyPatch) -> _NoisyLoader:
    loader = _NoisyLoader(present=True)
    monkeypatch.setattr(data.DATASETS, "get", lambda name: loader)
    return loader


CFG = DataConfig("noisy", train_size=20, val_size=10, test_size=10)


def test_a_trial_reads_prepared_data_without_downloading(
        noisy: _NoisyLoader, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    splits = data.load_splits(CFG, 0, tmp_path, download=True, quiet=True)
    assert len(splits.train_y) == 20 and len(splits.val_y) == 10 and len(splits.test_y) == 10
    out, err = capfd.readouterr()
    assert noisy.calls == [False] and (out, err) == ("", "")
    # The driver's own load (prepares the data once) still downloads where allowed.
    data.load_splits(CFG, 0, tmp_path, download=True)
    assert noisy.calls == [False, True] and "100%" in capfd.readouterr().err


def test_a_node_without_the_data_fetches_it_in_one_line_without_a_progress_bar(
        noisy: _NoisyLoader, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    noisy.present = False
    data.load_splits(CFG, 0, tmp_path / "node", download=True, quiet=True)
    out, err = capfd.readouterr()
    assert noisy.calls == [False, False, True]  # read, read again under the lock, download
    assert out.splitlines() == [f"data noisy: not in {tmp_path / 'node'} on this node; "
                                "downloading it there"]
    assert err == ""
    noisy.present, noisy.calls = False, []
    with pytest.raises(DataUnavailableError):  # --no-download: never fetched
        data.load_splits(CFG, 0, tmp_path, download=False, quiet=True)
    assert noisy.calls == [False]


class _Stop(Exception):
    pass


def test_dense_baselines_and_trials_load_their_data_quietly(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import trainables.dense as dense
    import trainables.trial as trial
    from trainables.reporter import LocalReporter

    seen: list[dict] = []

    def load_splits(*args: object, **kwargs: object) -> None:
        seen.append(kwargs)
        raise _Stop

    class _Cache:
        def __init__(self, *args: object) -> None:
            pass

        def verify(self) -> None:
            pass

    env = TrialEnv(storage=str(tmp_path / "storage"), data_dir=str(tmp_path), download=True)
    for module in (dense, trial):
        monkeypatch.setattr(module, "load_splits", load_splits)
        monkeypatch.setattr(module, "DenseCache", _Cache)
    with pytest.raises(_Stop):
        dense.train_dense(DenseConfig(), env, LocalReporter(verbose=False))
    with pytest.raises(_Stop):
        trial.run_trial(TrialConfig(method="magnitude", sparsity=0.5), env,
                        LocalReporter(verbose=False))
    assert [(k.get("download"), k.get("quiet")) for k in seen] == [(True, True), (True, True)]
