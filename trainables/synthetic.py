"""A generated, learnable 10-class image set written in CIFAR-10's own on-disk format.

Each class has its own colour and an oriented grating; images get random shifts, phase,
brightness and contrast jitter and pixel noise, so a small CNN learns it in a couple of epochs
but not trivially. Files are written once, atomically, under a file lock; torchvision's CIFAR10
code reads them back (only its md5 check is replaced, since the checksums differ)."""

from __future__ import annotations

import os
import pickle
import shutil
import uuid
from pathlib import Path

import numpy as np
from filelock import FileLock
from torchvision.datasets import CIFAR10

CLASSES = ("red-h", "green-v", "blue-d1", "yellow-d2", "cyan-h", "magenta-v", "orange-d1",
           "purple-d2", "grey-fine", "teal-coarse")
TRAIN_BATCHES, PER_BATCH, TEST_SIZE = 5, 2000, 2000
_SEED = 20261122  # fixed: the data set is the same for every trial seed


def _images(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    n = len(labels)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    base_rgb = np.array([[0.9, 0.2, 0.2], [0.2, 0.8, 0.2], [0.2, 0.3, 0.9], [0.9, 0.9, 0.2],
                         [0.2, 0.9, 0.9], [0.9, 0.2, 0.9], [1.0, 0.6, 0.1], [0.5, 0.2, 0.7],
                         [0.6, 0.6, 0.6], [0.1, 0.5, 0.5]], dtype=np.float32)
    angles = np.array([0, 90, 45, 135, 0, 90, 45, 135, 20, 160], dtype=np.float32) * np.pi / 180
    freqs = np.array([0.5, 0.5, 0.5, 0.5, 0.9, 0.9, 0.9, 0.9, 1.3, 0.3], dtype=np.float32)
    ang = (angles[labels] + rng.normal(0, 0.15, n))[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    dx = rng.integers(-4, 5, n)[:, None, None]
    dy = rng.integers(-4, 5, n)[:, None, None]
    u = (xx - dx) * np.cos(ang) + (yy - dy) * np.sin(ang)
    grating = 0.5 + 0.5 * np.sin(freqs[labels][:, None, None] * u + phase)
    colour = np.clip(base_rgb[labels] + rng.normal(0, 0.12, (n, 3)), 0, 1)[:, None, None, :]
    contrast = rng.uniform(0.5, 1.0, n)[:, None, None, None]
    brightness = rng.uniform(-0.15, 0.15, n)[:, None, None, None]
    img = grating[..., None] * colour * contrast + (1 - contrast) * 0.5 + brightness
    img = img + rng.normal(0, 0.12, img.shape)
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def _write_batch(path: Path, images: np.ndarray, labels: np.ndarray, name: str) -> None:
    # CIFAR-10 layout: rows of 3072 bytes, the R plane then G then B, each 32x32 row-major.
    data = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)
    # str keys, as the original (Python 2) pickles load under torchvision's latin1 decoding.
    batch = {"batch_label": name, "labels": labels.tolist(), "data": data,
             "filenames": [f"synthetic_{i:05d}.png" for i in range(len(images))]}
    with path.open("wb") as fh:
        pickle.dump(batch, fh, protocol=2)


def ensure_synthetic(root: str | Path) -> Path:
    """Generate the set under ``<root>/synthetic/cifar-10-batches-py`` unless already there."""
    root = Path(root) / "synthetic"
    final = root / CIFAR10.base_folder
    if (final / "batches.meta").is_file():
        return root
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / ".generate.lock"), timeout=600):
        if (final / "batches.meta").is_file():
            return root
        tmp = root / f".tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            rng = np.random.default_rng(_SEED)
            for b in range(1, TRAIN_BATCHES + 1):
                labels = rng.integers(0, 10, PER_BATCH)
                _write_batch(tmp / f"data_batch_{b}", _images(rng, labels), labels,
                             f"training batch {b} of {TRAIN_BATCHES}")
            labels = rng.integers(0, 10, TEST_SIZE)
            _write_batch(tmp / "test_batch", _images(rng, labels), labels, "testing batch 1 of 1")
            with (tmp / "batches.meta").open("wb") as fh:
                pickle.dump({"label_names": list(CLASSES), "num_cases_per_batch": PER_BATCH,
                             "num_vis": 3072}, fh, protocol=2)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root


class SyntheticCIFAR10(CIFAR10):
    """torchvision's CIFAR10 reader for our generated files: no md5 to check (torchvision's
    integrity check then only requires the files to exist); the reading code is unchanged."""

    train_list = [[name, None] for name, _ in CIFAR10.train_list]
    test_list = [[name, None] for name, _ in CIFAR10.test_list]
    meta = {**CIFAR10.meta, "md5": None}
