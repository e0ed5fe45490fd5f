"""The data set registry: every module of this package (but ``base``) is one data set, a loader
``(data_dir, download) -> RawData`` registered under the module's name. Listing and checking
names imports nothing heavy; a loader's module (torch, torchvision) is imported when it is used.
Plugins register more with ``DATASETS.register(name)``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pruning.registry import Registry
from trainables.datasets.base import DataUnavailableError

if TYPE_CHECKING:
    from trainables.datasets.base import RawData

Loader = Callable[[Path, bool], "RawData"]
DATASETS: Registry[Loader] = Registry.package("dataset", __name__, __file__, exclude={"base"})

__all__ = ["DATASETS", "DataUnavailableError", "Loader"]
