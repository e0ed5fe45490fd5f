"""Fashion-MNIST (Xiao et al. 2017), from Debian's copy when installed, else torchvision."""

from __future__ import annotations

import gzip
import shutil
import urllib.error
from pathlib import Path

import torch

from trainables.datasets import DATASETS
from trainables.datasets.base import DataUnavailableError, RawData

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

@DATASETS.register("fashion_mnist")
def fashion_mnist(data_dir: Path, download: bool) -> RawData:
    """Fashion-MNIST via torchvision, from Debian's copy when installed; padded to 32x32 and
    replicated to 3 channels (a model built with ``in_channels=1`` could take one channel)."""
    from torchvision.datasets import FashionMNIST

    raw = data_dir / "FashionMNIST" / "raw"
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
    if DEBIAN_FASHION_MNIST.is_dir() and not all((raw / n).is_file() for n in names):
        raw.mkdir(parents=True, exist_ok=True)
        for name in names:
            src = DEBIAN_FASHION_MNIST / f"{name}.gz"
            if src.is_file():
                with gzip.open(src, "rb") as fin, (raw / name).open("wb") as fout:
                    shutil.copyfileobj(fin, fout)
    try:
        train = FashionMNIST(str(data_dir), train=True, download=download)
        test = FashionMNIST(str(data_dir), train=False, download=False)
    except (urllib.error.URLError, OSError, RuntimeError):
        why = "could not be downloaded" if download else "downloads are off (--no-download)"
        raise DataUnavailableError(
            f"Fashion-MNIST not found in {data_dir} or {DEBIAN_FASHION_MNIST} and {why}; "
            "install Debian's dataset-fashion-mnist or put the idx files in "
            f"{raw}") from None

    def convert(ds) -> torch.Tensor:  # noqa: ANN001
        x = torch.nn.functional.pad(ds.data, (2, 2, 2, 2))  # 28x28 -> 32x32, zero border
        return x[:, None].expand(-1, 3, -1, -1).contiguous()

    return RawData(convert(train), train.targets.long(), convert(test), test.targets.long(),
                   (0.2860,) * 3, (0.3530,) * 3, tuple(train.classes))
