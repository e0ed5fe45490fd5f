"""CIFAR-10 (Krizhevsky 2009), through torchvision."""

from __future__ import annotations

import urllib.error
from pathlib import Path

from trainables.datasets import DATASETS
from trainables.datasets.base import DataUnavailableError, RawData, from_cifar_like


@DATASETS.register("cifar10")
def cifar10(data_dir: Path, download: bool) -> RawData:
    """CIFAR-10 via torchvision (downloaded into ``data_dir`` when missing and allowed)."""
    from torchvision.datasets import CIFAR10

    why = "could not be downloaded" if download else "downloads are off (--no-download)"
    hint = (f"CIFAR-10 not found in {data_dir} and {why}; put "
            f"cifar-10-python.tar.gz or the extracted cifar-10-batches-py/ folder there")
    try:
        train = CIFAR10(str(data_dir), train=True, download=download)
        test = CIFAR10(str(data_dir), train=False, download=False)
    except (urllib.error.URLError, OSError, RuntimeError) as exc:
        detail = "offline?" if isinstance(exc, urllib.error.URLError | OSError) else "missing"
        raise DataUnavailableError(f"{hint} ({detail})") from None
    return from_cifar_like(train, test, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
