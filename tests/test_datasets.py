"""Data: CIFAR-format files through torchvision, Fashion-MNIST, splits, augmentation."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch

from trainables.augment import iterate_batches, random_crop_flip
from trainables.config import DataConfig
from trainables.data import DataUnavailableError, load_splits
from trainables.synthetic import SyntheticCIFAR10, ensure_synthetic


def test_torchvision_pair_imports_and_runs() -> None:
    import torchvision
    from torchvision.ops import nms

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], dtype=torch.float)
    keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)
    assert keep.tolist() == [0, 2]
    assert torchvision.__version__


def test_synthetic_files_are_cifar10_format_read_by_torchvision(data_dir: Path) -> None:
    root = ensure_synthetic(data_dir)
    folder = root / "cifar-10-batches-py"
    assert {p.name for p in folder.iterdir()} >= {
        "data_batch_1", "data_batch_5", "test_batch", "batches.meta"}
    train = SyntheticCIFAR10(str(root), train=True, download=False)
    # torchvision's own parsing: HWC uint8 images, int labels, class names from batches.meta.
    assert train.data.shape == (10000, 32, 32, 3) and train.data.dtype.name == "uint8"
    assert len(train.targets) == 10000 and set(train.targets) == set(range(10))
    assert len(train.classes) == 10


def test_cifar10_offline_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    import torchvision.datasets.cifar as cifar

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(cifar, "download_and_extract_archive", offline)
    for download in (True, False):
        with pytest.raises(DataUnavailableError) as err:
            load_splits(DataConfig("cifar10"), 0, tmp_path, download=download)
        message = str(err.value)
        assert "\n" not in message and str(tmp_path) in message
        assert "cifar-10-batches-py" in message


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian(tmp_path: Path) -> None:
    splits = load_splits(DataConfig("fashion_mnist", test_size=500), 0, tmp_path, download=False)
    assert len(splits.train_y) + len(splits.val_y) == 60000
    assert len(splits.val_y) == 6000
    assert splits.train_x.shape[1:] == (3, 32, 32) and splits.train_x.dtype == torch.uint8
    assert splits.num_classes == 10 and splits.in_channels == 3
    assert splits.train_x[:, :, :2].max() == 0  # the 2-pixel zero border from padding


def test_validation_split_is_seeded_and_disjoint(data_dir: Path) -> None:
    cfg = DataConfig("synthetic", train_size=2000, val_size=500, test_size=1000)
    a, b, c = (load_splits(cfg, s, data_dir) for s in (0, 0, 1))
    assert (len(a.train_y), len(a.val_y), len(a.test_y)) == (2000, 500, 1000)
    assert torch.equal(a.val_x, b.val_x) and torch.equal(a.train_x, b.train_x)
    assert not torch.equal(a.val_x, c.val_x)
    train_rows = {bytes(x.numpy()) for x in a.train_x}
    assert not any(bytes(x.numpy()) in train_rows for x in a.val_x)
    full = load_splits(DataConfig("synthetic"), 0, data_dir)
    assert len(full.val_y) == 1000 and len(full.train_y) == 9000  # 10% held out


def test_too_large_subset_is_refused(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="train_size"):
        load_splits(DataConfig("synthetic", train_size=50000), 0, data_dir)


def test_augmentation_is_seeded_and_changes_images() -> None:
    x = torch.randint(1, 255, (64, 3, 32, 32), dtype=torch.uint8)
    a = random_crop_flip(x, torch.Generator().manual_seed(0))
    b = random_crop_flip(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape and a.dtype == torch.uint8
    changed = (a != x).flatten(1).any(1)
    assert changed.float().mean() > 0.8
    assert (a == 0).any()  # some crops show the zero padding
    batches = list(iterate_batches(
        x, torch.arange(64), 16, shuffle=True, generator=torch.Generator().manual_seed(0),
        augment=True, mean=(0.5,) * 3, std=(0.25,) * 3, device="cpu"))
    assert len(batches) == 4 and batches[0][0].dtype == torch.float32
    assert batches[0][0].is_contiguous()
    assert sorted(torch.cat([y for _, y in batches]).tolist()) == list(range(64))


def test_synthetic_data_is_learnable(data_dir: Path) -> None:
    from trainables.config import Recipe
    from trainables.engine import TrainingLoop
    from trainables.evaluation import evaluate
    from trainables.models import build_model

    splits = load_splits(DataConfig("synthetic", 2000, 500, 1000), 0, data_dir)
    torch.manual_seed(0)
    loop = TrainingLoop(build_model("resnet18", width=0.125), splits,
                        Recipe(epochs=2, lr=0.1, batch_size=128), 0, torch.device("cpu"))
    while not loop.done:
        loop.run_epoch()
    _, acc = evaluate(loop.load_best(), splits.test_x, splits.test_y, splits, torch.device("cpu"))
    assert acc > 0.4, acc  # chance is 0.1
