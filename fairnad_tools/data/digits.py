"""``digits``: scikit-learn's bundled 8x8 digits (1,797 images, no download).

Upsampled to 16x16 with the grey channel repeated three times; fixed stratified split
1,000 train / 400 valid / 397 test.
"""

from __future__ import annotations

from pathlib import Path

from fairnad_tools.data.registry import Dataset, DatasetInfo, Splits, register_dataset, stratified_split


@register_dataset
class Digits(Dataset):
    """The bundled digits: 3x16x16 inputs, 10 classes, no flip (a flipped digit is another digit)."""

    info = DatasetInfo("digits", (3, 16, 16), 10, False, 8, 64, 0.05, False)

    def load(self, data_dir: Path | None) -> Splits:
        """The fixed splits (``data_dir`` is ignored): 1,000 / 400 / 397 images of 3x16x16 uint8."""
        import numpy as np
        import torch
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)  # (N, 8, 8) in [0, 1]
        images = torch.nn.functional.interpolate(images[:, None], size=(16, 16), mode="bilinear", align_corners=False)
        images = (images.clamp(0, 1) * 255).round().to(torch.uint8).repeat(1, 3, 1, 1)
        labels = torch.from_numpy(bunch.target.astype(np.int64))
        train, valid, test = stratified_split(bunch.target, [1000, 400, len(labels) - 1400])
        return Splits(images[train], labels[train], images[valid], labels[valid], images[test], labels[test])
