"""A training job: what the worker needs to train one candidate, with the dataset's defaults resolved.

:class:`TrainJob` is written to ``train_job.json`` in the candidate folder and read by the
worker (:mod:`fairnad_tools.train.worker`). :func:`resolve_train_settings` is the one place
where an unset ``[train]`` value (epochs, batch size, learning rate) becomes the dataset's
default; :func:`job_for` builds a job from the settings with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from fairnad_tools.data import dataset_info
from fairnad_tools.settings import DataSettings, TrainSettings

__all__ = ["TrainJob", "job_for", "resolve_train_settings"]


class TrainJob(BaseModel):
    """Everything the worker needs; written to ``train_job.json`` in the candidate folder.

    Paths are made absolute by :func:`~fairnad_tools.train.run.train_candidate` before the
    worker sees them; ``lr`` is the peak learning rate (cosine decay to 0), ``time_limit_s``
    the wall-clock seconds the whole training may take, ``threads`` 0 for all cores.
    """

    candidate_id: str
    model_path: Path
    out_dir: Path
    dataset: str
    data_dir: Path | None = None
    epochs: int
    batch_size: int
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0
    threads: int = 0
    time_limit_s: float = 1800

    @property
    def metrics_path(self) -> Path:
        """``out_dir/metrics.json``: the :class:`~fairnad_tools.train.result.TrainResult` of this job."""
        return self.out_dir / "metrics.json"

    @property
    def log_path(self) -> Path:
        """``out_dir/train.log``: the worker's output (capped to its first and last MiB)."""
        return self.out_dir / "train.log"


def resolve_train_settings(train: TrainSettings, dataset: str) -> TrainSettings:
    """``train`` with every dataset default filled in: ``epochs``, ``batch_size`` and ``lr``.

    A value the settings set is kept; an unset one (``None``) becomes the dataset's default
    (:class:`~fairnad_tools.data.DatasetInfo`: digits 8 epochs, batch 64, lr 0.05; CIFAR 200,
    256, 0.1). Raises :class:`~fairnad_tools.data.DataError` for an unknown dataset.
    """
    info = dataset_info(dataset)
    return train.model_copy(
        update={
            "epochs": train.epochs or info.default_epochs,
            "batch_size": train.batch_size or info.default_batch_size,
            "lr": train.lr or info.default_lr,
        }
    )


def job_for(
    train: TrainSettings,
    data: DataSettings,
    *,
    candidate_id: str,
    model_path: Path,
    out_dir: Path,
    seed: int,
) -> TrainJob:
    """The job that trains ``model_path`` under the ``[train]`` and ``[data]`` settings.

    Dataset defaults are resolved by :func:`resolve_train_settings`; ``out_dir`` receives
    ``train_job.json``, ``metrics.json`` and ``train.log``; ``seed`` seeds the weights and
    the batch order (the data splits never depend on it). Raises
    :class:`~fairnad_tools.data.DataError` for an unknown dataset.
    """
    resolved = resolve_train_settings(train, data.dataset)
    assert resolved.epochs is not None and resolved.batch_size is not None and resolved.lr is not None
    return TrainJob(
        candidate_id=candidate_id,
        model_path=model_path,
        out_dir=out_dir,
        dataset=data.dataset,
        data_dir=data.data_dir,
        epochs=resolved.epochs,
        batch_size=resolved.batch_size,
        lr=resolved.lr,
        momentum=resolved.momentum,
        weight_decay=resolved.weight_decay,
        device=resolved.device,
        seed=seed,
        threads=resolved.threads,
        time_limit_s=resolved.time_limit_s,
    )
