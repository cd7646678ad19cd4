"""Node ``archive``: writes ``summary.json`` and decides whether another round follows."""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from graph.context import RunContext
from graph.state import COUNTED_STATUSES, RunState, counted


def archive(state: RunState, runtime: Runtime[RunContext]) -> Command[Literal["plan_round", "__end__"]]:
    """Write the summary; finish at the budget, stop after too many rejections, role errors or LLM
    failures in a row."""
    ctx = runtime.context
    batch = [state["candidates"][cid] for cid in state.get("batch", [])]
    streak = state.get("consecutive_rejections", 0)
    errors = state.get("consecutive_role_errors", 0)
    llm_failures = state.get("consecutive_llm_failures", 0)
    for c in batch:  # in id order: a counted candidate resets every streak
        if c["status"] in COUNTED_STATUSES:
            streak = errors = llm_failures = 0
        elif c["status"] == "rejected":
            streak += 1
            errors = errors + 1 if c.get("error_role") else 0
            llm_failures = llm_failures + 1 if c.get("llm_error") else 0
    status, stop_reason = state.get("status", "running"), state.get("stop_reason")
    done = counted(state)
    limit = ctx.settings.search.max_consecutive_rejections
    error_limit = ctx.settings.roles.max_consecutive_errors
    llm_limit = ctx.settings.llm.max_consecutive_failures
    if status == "running":
        if done >= state["budget"]:
            status = "finished"
        elif llm_failures >= llm_limit:
            last = next(c for c in reversed(batch) if c.get("llm_error"))
            status = "stopped"
            stop_reason = (
                f"the LLM failed for {llm_failures} candidates in a row, each after its retries "
                f"(llm.max_consecutive_failures = {llm_limit}); last: {last['reason']}. Check the server, "
                "then continue with: fairnad resume RUN_DIR --budget N"
            )
        elif errors >= error_limit:
            last = next(c for c in reversed(batch) if c.get("error_role"))
            status = "stopped"
            stop_reason = (
                f"{errors} candidates in a row were rejected by unexpected errors in roles "
                f"(roles.max_consecutive_errors = {error_limit}); last: {last['reason']}"
            )
        elif streak >= limit:
            last = next((c["reason"] for c in reversed(batch) if c["status"] == "rejected"), None)
            status = "stopped"
            stop_reason = (
                f"{streak} candidates in a row were rejected before training "
                f"(search.max_consecutive_rejections = {limit}); last reason: {last}"
            )
    update = {
        "consecutive_rejections": streak,
        "consecutive_role_errors": errors,
        "consecutive_llm_failures": llm_failures,
        "status": status,
        "stop_reason": stop_reason,
    }
    summary = ctx.store.write_summary({**state, **update}, ctx.settings.data.dataset)
    ctx.tracer.emit(
        "round_end",
        round=state.get("round", 0),
        counted=done,
        budget=state["budget"],
        status=status,
        stop_reason=stop_reason,
        pareto=summary["pareto"],
        best=summary["best"],
    )
    ctx.report(counted=done, budget=state["budget"], status=status)
    return Command(update=update, goto="plan_round" if status == "running" else END)
