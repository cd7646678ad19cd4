"""Datasets: a registry with one entry per dataset, served as uint8 image tensors (N, 3, H, W).

* :mod:`~fairnad_tools.data.registry` — :class:`DatasetInfo`, the :class:`Dataset` base class,
  :func:`register_dataset`, and the look-ups everyone uses (:func:`dataset_info`,
  :func:`check_dataset`, :func:`load_dataset`).
* :mod:`~fairnad_tools.data.digits` — ``digits`` (bundled with scikit-learn).
* :mod:`~fairnad_tools.data.cifar` — ``cifar10`` / ``cifar100`` from a local folder in
  torchvision's format: the reader, the pre-run check and the diagnosis of a wrong folder.

**Adding a dataset** is one file and one entry: a module here that defines a
:class:`Dataset` subclass decorated with :func:`register_dataset`, and that module's import
below (the order of the imports is the order in which ``--dataset`` lists them). Importing
any of this package's modules registers every built-in dataset.
"""

from fairnad_tools.data.registry import (
    DATASETS,
    SPLIT_SEED,
    DataError,
    Dataset,
    DatasetInfo,
    Splits,
    check_dataset,
    dataset_info,
    dataset_names,
    get_dataset,
    load_dataset,
    register_dataset,
)

# The built-in datasets, one entry each, in the order --dataset lists them: importing a module
# registers its datasets.
# isort: off
from fairnad_tools.data import digits  # noqa: E402, F401
from fairnad_tools.data import cifar  # noqa: E402, F401
# isort: on

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
]
