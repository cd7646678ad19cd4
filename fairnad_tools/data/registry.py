"""The dataset registry: what FairNAD knows about each dataset, and how to check and load it.

A dataset is a :class:`Dataset` subclass registered with :func:`register_dataset`: its
:class:`DatasetInfo` (input shape, classes, training defaults), an optional pre-run
:meth:`~Dataset.check` and a :meth:`~Dataset.load` that returns the fixed search
:class:`Splits` as uint8 image tensors (N, 3, H, W) and int64 labels (N,). Every function
here looks the name up in the registry, so the CLI, the settings, the verifier and the
training worker all see the same datasets.

This module stays light (no torch, numpy or scikit-learn at import): the CLI validates a
dataset before a run directory exists and before torch is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeVar

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = [
    "DATASETS",
    "SPLIT_SEED",
    "DataError",
    "Dataset",
    "DatasetInfo",
    "Splits",
    "check_dataset",
    "dataset_info",
    "dataset_names",
    "get_dataset",
    "load_dataset",
    "register_dataset",
    "stratified_split",
]

SPLIT_SEED = 20260101
"""Seed of every fixed split: splits never depend on the search seed."""


class DataError(ValueError):
    """A dataset is missing or malformed; the message says what was found and how to fix it."""


@dataclass(frozen=True)
class DatasetInfo:
    """What the rest of FairNAD needs to know about a dataset.

    ``input_shape`` is channels x height x width as the model receives it (always 3
    channels); ``hflip`` says whether a horizontal flip preserves labels (training augments
    with it); ``default_epochs``, ``default_batch_size`` and ``default_lr`` are used where the
    ``[train]`` settings leave them unset; ``needs_data_dir`` means ``--data-dir`` is required.
    """

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    hflip: bool
    default_epochs: int
    default_batch_size: int
    default_lr: float
    needs_data_dir: bool


@dataclass
class Splits:
    """uint8 images (N, 3, H, W) and int64 labels (N,) for each split; ``test_*`` may be ``None``."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    valid_x: torch.Tensor
    valid_y: torch.Tensor
    test_x: torch.Tensor | None
    test_y: torch.Tensor | None


class Dataset:
    """Base class of a dataset: subclass it, set :attr:`info`, write :meth:`load`, register it.

    Example (one file in ``fairnad_tools/data/``, then its import, one line, in
    ``fairnad_tools/data/__init__.py``)::

        @register_dataset
        class Tiny(Dataset):
            info = DatasetInfo("tiny", (3, 16, 16), 10, False, 2, 32, 0.05, False)

            def load(self, data_dir):
                ...  # return Splits(train_x, train_y, valid_x, valid_y, test_x, test_y)

    :meth:`check` runs before a run starts and must not import torch; :meth:`load` runs in
    the training worker. Both raise :class:`DataError` with a message that says how to fix it.
    """

    info: ClassVar[DatasetInfo]

    def check(self, data_dir: Path | None) -> None:  # noqa: B027 - optional hook, accepts by default
        """Check, before a run starts, that :meth:`load` will succeed; raise :class:`DataError` if not.

        The default accepts (a bundled dataset has nothing to check).
        """

    def load(self, data_dir: Path | None) -> Splits:
        """The fixed search splits (uint8 images (N, 3, H, W), int64 labels); raises :class:`DataError`."""
        raise NotImplementedError(f"{type(self).__name__}.load")


DATASETS: dict[str, Dataset] = {}
"""The registry: dataset name -> its :class:`Dataset`, in registration order."""

D = TypeVar("D", bound=type[Dataset])


def register_dataset(cls: D) -> D:
    """Class decorator: register an instance of ``cls`` under ``cls.info.name``.

    Raises ``ValueError`` when the class has no ``info`` or the name is taken.
    """
    info = getattr(cls, "info", None)
    if not isinstance(info, DatasetInfo):
        raise ValueError(f"{cls.__name__} needs a class attribute info = DatasetInfo(...)")
    if info.name in DATASETS:
        raise ValueError(f"dataset {info.name!r} is already registered (by {type(DATASETS[info.name]).__name__})")
    DATASETS[info.name] = cls()
    return cls


def dataset_names() -> tuple[str, ...]:
    """The registered dataset names, in registration order."""
    return tuple(DATASETS)


def get_dataset(name: str) -> Dataset:
    """The registered :class:`Dataset` ``name``; raises :class:`DataError` listing the valid names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}") from None


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name``; raises :class:`DataError` listing the valid names."""
    return get_dataset(name).info


def check_dataset(name: str, data_dir: Path | None) -> None:
    """Check, before a run starts, that the dataset can be loaded and split as training will.

    Delegates to the dataset's :meth:`Dataset.check` (for CIFAR: find the batch folder, read
    every batch with the reader training uses and check the fixed split can be made). Raises
    :class:`DataError` saying what was found and how to fix it.
    """
    get_dataset(name).check(data_dir)


def load_dataset(name: str, data_dir: Path | None = None) -> Splits:
    """Load the dataset's search splits; raises :class:`DataError` as :func:`check_dataset` does."""
    return get_dataset(name).load(data_dir)


def stratified_split(labels: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """Split ``range(len(labels))`` into sorted index arrays of the given sizes, keeping class proportions.

    ``labels``: (N,) integers; ``sizes`` must add up to N (the last part takes the rest). The
    seed is :data:`SPLIT_SEED`. Raises scikit-learn's ``ValueError`` when a stratified split of
    those sizes is impossible.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split

    rest = np.arange(len(labels))
    parts = []
    for size in sizes[:-1]:
        part, rest = train_test_split(rest, train_size=size, stratify=labels[rest], random_state=SPLIT_SEED)
        parts.append(np.sort(part))
    parts.append(np.sort(rest))
    return parts
