"""Node ``feedback``: the feedback role turns the round's outcomes into idea statistics."""

from __future__ import annotations

import traceback
from typing import Any

from langgraph.runtime import Runtime

from agents.records import FeedbackStats, Outcome
from graph.context import RunContext, Timer
from graph.state import FINAL_STATUSES, CandidateRecord, RunState


def vetoed(record: CandidateRecord) -> bool:
    """Rejected by a gate's judgement (the last review's kind is ``review``), not by a failure."""
    notes = record["feedback"]
    return (
        record["status"] == "rejected"
        and not record.get("error_role")
        and bool(notes)
        and notes[-1]["kind"] == "review"
    )


def feedback(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Update per-idea and per-sub-category statistics from the batch's final outcomes.

    An unexpected exception in the role keeps the statistics as they were (the trace names
    the role and the error); the run goes on.
    """
    ctx = runtime.context
    role = ctx.roles.feedback
    candidates = state["candidates"]
    outcomes = []
    for cid in state.get("batch", []):
        record = candidates[cid]
        if record["status"] not in FINAL_STATUSES:
            continue
        if record.get("llm_error") or record.get("not_made"):
            continue  # the LLM service failed or its budget ran out: nothing was learnt about the idea
        parent = candidates.get(record["parent"]) if record["parent"] else None
        outcomes.append(
            Outcome(
                candidate_id=cid,
                idea=record["idea"],
                sub_category=record["sub_category"],
                mutation_type=record["mutation_type"],
                status=record["status"],
                vetoed=vetoed(record),
                val_acc=record["val_acc"],
                parent_val_acc=parent["val_acc"] if parent else None,
            )
        )
    before = FeedbackStats.model_validate(state.get("stats", {}))
    given = f"{len(outcomes)} outcomes of round {state.get('round', 0)}"
    with Timer() as timer:
        try:
            stats, notes = role.update(before, outcomes)
            stats = FeedbackStats.model_validate(stats)
            decided = "; ".join(str(note) for note in notes) or "no idea-driven outcome this round"
        except Exception as exc:  # noqa: BLE001 - a role's bug must not end the run
            message = f"unexpected error in role {role.name!r}: {type(exc).__name__}: {exc}; statistics unchanged"
            ctx.tracer.emit(
                "role_error",
                role=role.name,
                candidate=None,
                given=given,
                message=message,
                traceback=traceback.format_exc(limit=8),
            )
            return {}
    ctx.tracer.emit(
        "role_step",
        role=role.name,
        candidate=None,
        given=given,
        decided=decided,
        seconds=timer.seconds,
        tokens=None,
    )
    return {"stats": stats.model_dump(mode="json")}
