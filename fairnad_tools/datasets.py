"""The dataset catalogue: names, shapes, defaults and a fast check of the files (no torch).

Loading lives in :mod:`fairnad_tools.data`; this module stays light so that the CLI can
validate a dataset before anything heavy is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SPLIT_SEED = 20260101  # fixed: splits never depend on the search seed


class DataError(ValueError):
    """A dataset is missing or malformed; the message names the files expected."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    hflip: bool  # horizontal flip preserves labels (not for digits)
    default_epochs: int
    default_batch_size: int
    default_lr: float
    needs_data_dir: bool


DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo("digits", (3, 16, 16), 10, False, 8, 64, 0.05, False),
    "cifar10": DatasetInfo("cifar10", (3, 32, 32), 10, True, 200, 256, 0.1, True),
    "cifar100": DatasetInfo("cifar100", (3, 32, 32), 100, True, 200, 256, 0.1, True),
}

CIFAR_FILES = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels"),
}


def dataset_info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}") from None


def check_dataset(name: str, data_dir: Path | None) -> None:
    """Fail fast, before a run starts, when the dataset's files are not where they should be."""
    info = dataset_info(name)
    if not info.needs_data_dir:
        return
    folder, train_files, test_files, _ = CIFAR_FILES[name]
    if data_dir is None:
        raise DataError(
            f"dataset {name!r} needs --data-dir: a folder holding {folder}/ "
            f"({', '.join(train_files + test_files)}) in torchvision's format"
        )
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist; it should hold {folder}/")
    base = root / folder if (root / folder).is_dir() else root
    missing = [f for f in train_files + test_files if not (base / f).is_file()]
    if missing:
        raise DataError(
            f"{base} lacks {', '.join(missing)}; expected {folder}/ with "
            f"{', '.join(train_files + test_files)} (the python version of the dataset, as "
            "torchvision downloads it)"
        )
