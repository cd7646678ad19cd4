"""Training tool: trains one candidate in a child process and returns its metrics.

The parent side (:func:`train_candidate`) is idempotent: a candidate whose
``metrics.json`` is already final for the same ``model.py`` is not trained again, which
is what makes resuming a killed run safe. The child side is
:mod:`fairnad_tools.train_worker`.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from fairnad_tools.io import atomic_write_json, read_json
from fairnad_tools.proc import run_python_module


class TrainJob(BaseModel):
    """Everything the worker needs; written to ``train_job.json`` in the candidate folder."""

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
        return self.out_dir / "metrics.json"

    @property
    def log_path(self) -> Path:
        return self.out_dir / "train.log"


class TrainResult(BaseModel):
    """Outcome of training one candidate (the content of ``metrics.json``)."""

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
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def finished_result(job: TrainJob) -> TrainResult | None:
    """The final result already on disk for this exact model, if any."""
    if not job.metrics_path.is_file():
        return None
    try:
        result = TrainResult.model_validate(read_json(job.metrics_path))
    except ValueError:
        return None
    if result.model_sha256 != file_sha256(job.model_path):
        return None
    return result.model_copy(update={"reused": True})


def train_candidate(job: TrainJob) -> TrainResult:
    """Train ``job.model_path`` unless a final result for it exists; never raises for a bad model."""
    done = finished_result(job)
    if done is not None:
        return done
    job = job.model_copy(
        update={"model_path": job.model_path.absolute(), "out_dir": job.out_dir.absolute(),
                "data_dir": job.data_dir.expanduser().absolute() if job.data_dir else None}
    )  # fmt: skip  # the worker runs in out_dir: no relative path may reach it
    job.out_dir.mkdir(parents=True, exist_ok=True)
    job_path = job.out_dir / "train_job.json"
    atomic_write_json(job_path, job.model_dump(mode="json"))
    if job.metrics_path.exists():
        job.metrics_path.unlink()
    start = time.monotonic()
    child = run_python_module(
        "fairnad_tools.train_worker",
        ["--job", str(job_path)],
        timeout=job.time_limit_s,
        cwd=job.out_dir,
        log_path=job.log_path,
    )
    if job.metrics_path.is_file() and not child.timed_out:
        return TrainResult.model_validate(read_json(job.metrics_path))
    if child.timed_out:
        reason = f"timeout: training exceeded the {job.time_limit_s:g} s limit (train.time_limit_s)"
    else:
        tail = " | ".join(child.output_tail.strip().splitlines()[-3:])
        how = f"signal {child.killed_by_signal}" if child.killed_by_signal else f"exit {child.returncode}"
        reason = f"worker died ({how}) without a result: {tail or 'no output'}"
        if child.killed_by_signal == 9:
            reason = f"out_of_memory or killed (signal 9): {tail or 'no output'}"
    result = TrainResult(
        candidate_id=job.candidate_id,
        status="failed",
        reason=reason,
        seconds=round(time.monotonic() - start, 2),
        model_sha256=file_sha256(job.model_path),
    )
    atomic_write_json(job.metrics_path, result.model_dump(mode="json"))
    return result
