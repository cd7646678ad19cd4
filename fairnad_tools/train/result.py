"""The outcome of training one candidate (``metrics.json``) and how a finished one is recognised."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from fairnad_tools.io import read_json
from fairnad_tools.train.job import TrainJob

__all__ = ["TrainResult", "file_sha256", "finished_result"]


class TrainResult(BaseModel):
    """Outcome of training one candidate (the content of ``metrics.json``).

    Accuracies are fractions in [0, 1]; ``seconds`` is the wall time of the training;
    ``model_sha256`` identifies the ``model.py`` trained, so a resumed run reuses only a result
    for the same file (``reused`` is then true); ``history`` holds one record per epoch.
    """

    candidate_id: str
    status: Literal["trained", "failed"]
    reason: str | None = None
    val_acc: float | None = Field(default=None, ge=0, le=1)
    test_acc: float | None = Field(default=None, ge=0, le=1)
    train_acc: float | None = None
    train_loss: float | None = None
    epochs: int | None = None
    device: str | None = None
    seconds: float = 0.0
    model_sha256: str = ""
    reused: bool = False
    history: list[dict] = Field(default_factory=list)


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file's bytes, as 64 hex digits; raises ``OSError`` when it cannot be read."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def finished_result(job: TrainJob) -> TrainResult | None:
    """The final result already on disk for this exact model (marked ``reused``), else ``None``.

    ``None`` too when ``metrics.json`` is unreadable as a result or belongs to another
    ``model.py`` (a different SHA-256).
    """
    if not job.metrics_path.is_file():
        return None
    try:
        result = TrainResult.model_validate(read_json(job.metrics_path))
    except ValueError:
        return None
    if result.model_sha256 != file_sha256(job.model_path):
        return None
    return result.model_copy(update={"reused": True})
