"""Node ``feedback``: the feedback role turns the round's outcomes into idea statistics."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agents.feedback import Outcome
from graph.context import RunContext, Timer
from graph.state import FINAL_STATUSES, RunState


def feedback(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Update per-idea and per-sub-category statistics from the batch's final outcomes."""
    ctx = runtime.context
    role = ctx.roles["feedback"]
    candidates = state["candidates"]
    outcomes = []
    for cid in state.get("batch", []):
        record = candidates[cid]
        if record["status"] not in FINAL_STATUSES:
            continue
        parent = candidates.get(record["parent"]) if record["parent"] else None
        outcomes.append(
            Outcome(
                candidate_id=cid,
                idea=record["idea"],
                sub_category=record["sub_category"],
                mutation_type=record["mutation_type"],
                status=record["status"],
                val_acc=record["val_acc"],
                parent_val_acc=parent["val_acc"] if parent else None,
            )
        )
    with Timer() as timer:
        stats, notes = role.update(state.get("stats", {}), outcomes)  # type: ignore[attr-defined]
    ctx.tracer.emit(
        "role_step", role=role.name, candidate=None,
        given=f"{len(outcomes)} outcomes of round {state.get('round', 0)}",
        decided="; ".join(notes) or "no idea-driven outcome this round",
        seconds=timer.seconds, tokens=None,
    )  # fmt: skip
    return {"stats": stats}
