"""Datasets, served as uint8 image tensors (N, 3, H, W) with fixed splits.

* ``digits``: scikit-learn's bundled 8x8 digits (1,797 images, no download), upsampled to
  16x16 with the grey channel repeated three times; fixed stratified split 1,000 train /
  400 valid / 397 test.
* ``cifar10`` / ``cifar100``: read from a local folder in torchvision's format
  (``cifar-10-batches-py/`` or ``cifar-100-python/``, or that folder itself) by
  :func:`fairnad_tools.datasets.read_cifar`, the reader the pre-run check uses too; split as
  NAS-Bench-201 does for search: CIFAR-10 train set halved into 25k train / 25k valid, the 10k
  test set for test; CIFAR-100 the full 50k train set, the test set halved into 5k valid / 5k test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fairnad_tools.datasets import SPLIT_SEED, DataError, check_dataset, dataset_info, read_cifar

__all__ = ["DataError", "Splits", "check_dataset", "dataset_info", "load_dataset"]


@dataclass
class Splits:
    """uint8 images (N, 3, H, W) and int64 labels (N,) for each split."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    valid_x: torch.Tensor
    valid_y: torch.Tensor
    test_x: torch.Tensor | None
    test_y: torch.Tensor | None


def load_dataset(name: str, data_dir: Path | None = None) -> Splits:
    """Load the dataset's search splits; raises :class:`DataError` as ``check_dataset`` does."""
    dataset_info(name)
    if name == "digits":
        return _load_digits()
    return _load_cifar(name, data_dir)


def _stratified_split(labels: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """Split indices into parts of the given sizes, keeping class proportions (fixed seed)."""
    from sklearn.model_selection import train_test_split

    rest = np.arange(len(labels))
    parts = []
    for size in sizes[:-1]:
        part, rest = train_test_split(rest, train_size=size, stratify=labels[rest], random_state=SPLIT_SEED)
        parts.append(np.sort(part))
    parts.append(np.sort(rest))
    return parts


def _load_digits() -> Splits:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)  # (N, 8, 8) in [0, 1]
    images = torch.nn.functional.interpolate(images[:, None], size=(16, 16), mode="bilinear", align_corners=False)
    images = (images.clamp(0, 1) * 255).round().to(torch.uint8).repeat(1, 3, 1, 1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    train, valid, test = _stratified_split(bunch.target, [1000, 400, len(labels) - 1400])
    return Splits(images[train], labels[train], images[valid], labels[valid], images[test], labels[test])


def _load_cifar(name: str, data_dir: Path | None) -> Splits:
    arrays = read_cifar(name, data_dir)  # checks the halves below can be made (check_stratified_halves)
    tx, ty, sx, sy = arrays.train_x, arrays.train_y, arrays.test_x, arrays.test_y

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a))

    if name == "cifar10":
        half = len(ty) // 2
        tr, va = _stratified_split(ty, [half, len(ty) - half])
        return Splits(t(tx[tr]), t(ty[tr]), t(tx[va]), t(ty[va]), t(sx), t(sy))
    half = len(sy) // 2
    va, te = _stratified_split(sy, [half, len(sy) - half])
    return Splits(t(tx), t(ty), t(sx[va]), t(sy[va]), t(sx[te]), t(sy[te]))
