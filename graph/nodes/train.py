"""Node ``train``: approved candidates are trained through the executor.

Idempotent: a candidate whose ``metrics.json`` is final for its ``model.py`` is not
trained again (this is what makes a resumed run lose at most the candidate in flight).

Replay with recorded metrics (``fairnad run --llm replay:RUN_DIR --replay-metrics``): a
candidate whose ``model.py`` is byte-identical to the recorded run's candidate of the same id
takes that candidate's ``metrics.json`` instead of training, so the whole decision sequence
is reproduced on any machine. A model that differs is trained.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from fairnad_tools.train import TrainJob, TrainResult, job_for, train_candidate
from fairnad_tools.train.result import file_sha256
from graph.context import RunContext
from graph.state import CandidateRecord, RunState, counted, trained


def make_job(ctx: RunContext, cid: str) -> TrainJob:
    """The training job of candidate ``cid``, with the dataset's defaults for unset ``[train]`` keys."""
    settings = ctx.settings
    return job_for(
        settings.train,
        settings.data,
        candidate_id=cid,
        model_path=ctx.store.candidate_dir(cid) / "model.py",
        out_dir=ctx.store.candidate_dir(cid),
        seed=settings.search.seed,
    )


def train(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Train every approved candidate of the batch; record ``trained`` or ``failed``."""
    ctx = runtime.context
    approved = [cid for cid in state.get("batch", []) if state["candidates"][cid]["status"] == "approved"]
    done = counted(state)
    best = max((c["val_acc"] for c in trained(state)), default=None)
    updates: dict[str, CandidateRecord] = {}
    jobs = [make_job(ctx, cid) for cid in approved]

    replay_dir = _replay_metrics_dir(ctx)
    replayed = {job.candidate_id for job in jobs if replay_dir is not None and _copy_recorded(replay_dir, job)}

    def run(job: TrainJob) -> TrainResult:
        ctx.tracer.emit(
            "tool_call",
            role=None,
            candidate=job.candidate_id,
            tool="train",
            phase="start",
            epochs=job.epochs,
            batch_size=job.batch_size,
            lr=job.lr,
            device=job.device,
        )
        return train_candidate(job)

    for job, result in ctx.executor.map(run, jobs):
        record = dict(state["candidates"][job.candidate_id])
        record.update(
            status=result.status,
            reason=result.reason,
            val_acc=result.val_acc,
            test_acc=result.test_acc,
            seconds=result.seconds,
        )
        updates[job.candidate_id] = record
        ctx.tracer.emit(
            "tool_call",
            role=None,
            candidate=job.candidate_id,
            tool="train",
            phase=("replayed" if job.candidate_id in replayed else "reused") if result.reused else "finished",
            status=result.status,
            reason=result.reason,
            val_acc=result.val_acc,
            test_acc=result.test_acc,
            seconds=result.seconds,
            device=result.device,
            log=str(job.log_path),
        )
        done += 1
        if result.val_acc is not None:
            best = max(best or 0.0, result.val_acc)
        ctx.report(counted=done, budget=state["budget"], best=best, candidate=job.candidate_id)
    return {"candidates": updates}


def _replay_metrics_dir(ctx: RunContext) -> Path | None:
    llm = ctx.settings.llm
    if llm.provider != "replay" or not llm.replay_metrics or llm.replay_dir is None:
        return None
    return Path(llm.replay_dir)


def _copy_recorded(replay_dir: Path, job: TrainJob) -> bool:
    """Take the recorded run's metrics for ``job`` when its model.py is the same file; True if taken."""
    recorded = replay_dir / "candidates" / job.candidate_id / "metrics.json"
    if not recorded.is_file() or not job.model_path.is_file():
        return False
    try:
        result = TrainResult.model_validate_json(recorded.read_text(encoding="utf-8"))
    except ValueError:
        return False
    if result.model_sha256 != file_sha256(job.model_path):
        return False
    job.out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(recorded, job.metrics_path)
    return True
