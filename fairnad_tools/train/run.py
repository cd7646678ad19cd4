"""The parent side of training: run one job in a worker child and return its result.

Idempotent: a candidate whose ``metrics.json`` is already final for the same ``model.py`` is
not trained again, which is what makes resuming a killed run safe. The child side is
:mod:`fairnad_tools.train.worker`.
"""

from __future__ import annotations

import time

from fairnad_tools.io import atomic_write_json, read_json
from fairnad_tools.isolation.launch import run_python_module
from fairnad_tools.train.job import TrainJob
from fairnad_tools.train.result import TrainResult, file_sha256, finished_result

__all__ = ["WORKER", "train_candidate"]

WORKER = "fairnad_tools.train.worker"
"""The worker module, run as ``python -m`` (or forked from the fork server, which lists it)."""


def train_candidate(job: TrainJob) -> TrainResult:
    """Train ``job.model_path`` unless a final result for it exists; never raises for a bad model.

    The worker runs in ``job.out_dir`` under ``job.time_limit_s``; its output goes to
    ``train.log``. A worker that times out, dies or writes no result gives a ``failed``
    :class:`TrainResult` whose ``reason`` says why (``timeout: ...``, ``worker died ...``,
    ``out_of_memory or killed ...``); that result is written to ``metrics.json`` too.
    """
    done = finished_result(job)
    if done is not None:
        return done
    job = job.model_copy(
        update={
            "model_path": job.model_path.absolute(),
            "out_dir": job.out_dir.absolute(),
            "data_dir": job.data_dir.expanduser().absolute() if job.data_dir else None,
        }
    )  # the worker runs in out_dir: no relative path may reach it
    job.out_dir.mkdir(parents=True, exist_ok=True)
    job_path = job.out_dir / "train_job.json"
    atomic_write_json(job_path, job.model_dump(mode="json"))
    if job.metrics_path.exists():
        job.metrics_path.unlink()
    start = time.monotonic()
    child = run_python_module(
        WORKER,
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
