"""Node ``feedback``: the feedback role turns the round's outcomes into idea statistics, and lessons.

After :meth:`agents.base.FeedbackRole.update`, the node asks the role for lessons
(:meth:`agents.base.FeedbackRole.lessons`: an LLM-mode role makes one chat call per round; the
built-in one has none). New lessons are written to ``lessons/round-NN.md`` and ``lessons.md``
(:meth:`graph.store.RunStore.write_lessons`) and kept in the run state (``lessons``,
``lessons_round``), from where the mutation role's next requests carry them. The round's LLM
exchanges are kept as ``lessons/llm/NN-<role>.json`` and counted in ``summary.json``'s ``llm``
totals; a resumed run answers the call from that file instead of repeating it. No lessons are
asked for after the last round (the budget is spent: nothing would read them).

A failed lessons call (``LLMError``, a reached LLM budget) or an unexpected exception in
``lessons`` keeps the previous lessons: the trace says why (``llm_failure`` or ``role_error``)
and the run goes on. An unexpected exception in ``update`` keeps the statistics as they were.
"""

from __future__ import annotations

import traceback
from typing import Any

from langgraph.runtime import Runtime

from agents.llm import LLMError
from agents.records import FeedbackStats, Outcome
from graph.context import RunContext, Timer, record_llm_calls
from graph.state import FINAL_STATUSES, CandidateRecord, RunState, counted


def vetoed(record: CandidateRecord) -> bool:
    """Rejected by a gate's judgement (the last review's kind is ``review``), not by a failure."""
    notes = record["feedback"]
    return (
        record["status"] == "rejected"
        and not record.get("error_role")
        and bool(notes)
        and notes[-1]["kind"] == "review"
    )


def _outcomes(ctx: RunContext, state: RunState) -> list[Outcome]:
    candidates = state["candidates"]
    outcomes = []
    for cid in state.get("batch", []):
        record = candidates[cid]
        if record["status"] not in FINAL_STATUSES:
            continue
        if record.get("llm_error") or record.get("not_made"):
            continue  # the LLM service failed or its budget ran out: nothing was learnt about the idea
        parent = candidates.get(record["parent"]) if record["parent"] else None
        idea = _idea_title(ctx, record["idea"])
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
                idea_title=idea,
                params=record.get("params"),
                flops=record.get("flops"),
                reason=record.get("reason") if record["status"] != "trained" else None,
            )
        )
    return outcomes


def _idea_title(ctx: RunContext, idea_id: str | None) -> str | None:
    if not idea_id:
        return None
    try:
        return ctx.bank().get(idea_id).title
    except (KeyError, AttributeError, RuntimeError):
        return None


def feedback(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Update per-idea and per-sub-category statistics from the batch's final outcomes, then
    ask the role for lessons (see the module docstring).

    An unexpected exception in the role keeps the statistics as they were (the trace names
    the role and the error); the run goes on.
    """
    ctx = runtime.context
    role = ctx.roles.feedback
    outcomes = _outcomes(ctx, state)
    round_ = state.get("round", 0)
    before = FeedbackStats.model_validate(state.get("stats", {}))
    given = f"{len(outcomes)} outcomes of round {round_}"
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
    update: dict[str, Any] = {"stats": stats.model_dump(mode="json")}
    if state.get("status") != "stopped" and counted(state) < state.get("budget", 0):  # another round reads them
        update.update(_lessons(ctx, state, round_, stats, outcomes))
    return update


def _lessons(
    ctx: RunContext, state: RunState, round_: int, stats: FeedbackStats, outcomes: list[Outcome]
) -> dict[str, Any]:
    """The role's lessons after round ``round_``, written and traced; the state update (empty when none)."""
    role = ctx.roles.feedback
    previous = state.get("lessons")
    given = f"{len(outcomes)} outcomes of round {round_}" + (
        f", lessons of round {state.get('lessons_round')}" if previous else ""
    )
    text: str | None = None
    failure: str | None = None
    crashed: str | None = None
    tokens = 0
    with Timer() as timer:
        try:
            text = role.lessons(round_, stats.model_copy(deep=True), list(outcomes), previous)
            if text is not None and not isinstance(text, str):
                raise TypeError(f"lessons() returned {type(text).__name__}, not a str or None")
            text = text.strip() if text and text.strip() else None
        except LLMError as exc:  # LLMBudgetExhausted included: the next LLM step stops the run
            failure = f"LLM {exc.kind}: {exc}"
        except Exception as exc:  # noqa: BLE001 - a role's bug must not end the run
            failure = f"unexpected error in role {role.name!r}: {type(exc).__name__}: {exc}"
            crashed = traceback.format_exc(limit=8)
        finally:
            tokens = record_llm_calls(ctx)
    if failure is None and text is None and not tokens:
        return {}  # no lessons mode (built-in), or nothing to learn from: nothing to trace
    keep = "previous lessons kept" if previous else "no lessons yet"
    if crashed is not None:
        ctx.tracer.emit("role_error", role=role.name, candidate=None, given=given, message=failure, traceback=crashed)
    elif failure is not None:
        ctx.tracer.emit("llm_failure", role=role.name, candidate=None, message=f"{failure}; {keep}")
    if text is not None:
        path = ctx.store.write_lessons(round_, text)
        lines = sum(1 for line in text.splitlines() if line.strip())
        decided = f"lessons of round {round_}: {lines} lines in {path.relative_to(ctx.store.root)}"
    else:
        decided = f"no lessons: {failure or 'empty answer'}; {keep}"
    ctx.tracer.emit(
        "role_step",
        role=role.name,
        candidate=None,
        given=given,
        decided=decided,
        seconds=timer.seconds,
        tokens=tokens or None,
    )
    return {"lessons": text, "lessons_round": round_} if text is not None else {}
