"""``--no-download``: is a built-in data set on disk? Answered from file names alone, before
torch is imported, so that a missing data set is one line at once rather than after Ray and
torch have started."""

from __future__ import annotations

from pathlib import Path

from tune_app.errors import UserError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def _cifar10(data_dir: Path) -> str | None:
    if (data_dir / "cifar-10-batches-py").is_dir() or \
            (data_dir / "cifar-10-python.tar.gz").is_file():
        return None
    return (f"CIFAR-10 is not in {data_dir} and --no-download forbids fetching it: put "
            "cifar-10-python.tar.gz or the extracted cifar-10-batches-py/ folder there, or "
            "drop --no-download")


def _fashion_mnist(data_dir: Path) -> str | None:
    name = "train-images-idx3-ubyte"
    if (DEBIAN_FASHION_MNIST / f"{name}.gz").is_file() or \
            (data_dir / "FashionMNIST" / "raw" / name).is_file():
        return None
    return (f"Fashion-MNIST is neither in {data_dir / 'FashionMNIST' / 'raw'} nor in "
            f"{DEBIAN_FASHION_MNIST}, and --no-download forbids fetching it: install Debian's "
            "dataset-fashion-mnist, put the idx files there, or drop --no-download")


# Data sets that are generated (synthetic) or registered by plugins are checked by their loader.
_CHECKS = {"cifar10": _cifar10, "fashion_mnist": _fashion_mnist}


def check_offline(dataset: str, data_dir: Path) -> None:
    """One line and exit 2 when ``dataset`` would need a download."""
    check = _CHECKS.get(dataset)
    problem = check(data_dir) if check else None
    if problem:
        raise UserError(problem)
