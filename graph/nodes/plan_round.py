"""Node ``plan_round``: the seed in round 0, then the rounds the strategy (``search.strategy``) plans."""

from __future__ import annotations

import random
import traceback
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from agents.records import FeedbackStats
from graph.context import RunContext
from graph.state import RunState, counted, new_record, trained
from graph.strategies import RoundView


def plan_round(state: RunState, runtime: Runtime[RunContext]) -> Command[Literal["mutate", "archive"]]:
    """Plan the next round's candidates (the seed first); stop when nothing can be mutated.

    A strategy that raises, breaks its contract (:meth:`graph.strategies.Strategy.checked_plan`)
    or plans nothing stops the run with the reason in ``stop_reason`` (results kept).
    """
    ctx = runtime.context
    settings = ctx.settings
    round_no = state.get("round", 0)
    next_id = state.get("next_id", 0)
    if next_id == 0:
        record = new_record(f"{0:04d}", parent=None, round=0, mutation_type="seed")
        ctx.tracer.emit("round_planned", round=0, candidates=[record["id"]], kinds=["seed"])
        return Command(
            update={"candidates": {record["id"]: record}, "batch": [record["id"]], "next_id": 1, "round": 0},
            goto="mutate",
        )
    parents = trained(state)
    if not parents:
        seed = state["candidates"].get(f"{0:04d}")
        why = f"{seed['status']}: {seed['reason']}" if seed else "no candidate was trained"
        reason = f"nothing to mutate: the seed model did not train ({why})"
        ctx.tracer.emit("error", role=None, message=reason)
        return Command(update={"status": "stopped", "stop_reason": reason, "batch": []}, goto="archive")
    shape = ctx.dataset.input_shape
    view = RoundView(
        n=ctx.strategy.round_size(state["budget"], counted(state)),
        round=round_no + 1,
        trained=parents,
        ideas=ctx.bank().sub_category_map(),
        stats=FeedbackStats.model_validate(state.get("stats", {})),
        rng=random.Random(f"{settings.search.seed}:plan:{round_no + 1}"),
        realisable=ctx.mutation.realisable_sub_categories(),
        max_params=settings.verify.max_params,
        max_flops=settings.verify.flops_budget(shape),
    )
    try:
        plan = ctx.strategy.checked_plan(view)
    except Exception as exc:  # noqa: BLE001 - a strategy's failure ends the run cleanly, with the reason
        reason = f"strategy {ctx.strategy.name!r} failed in round {round_no + 1}: {type(exc).__name__}: {exc}"
        ctx.tracer.emit("error", role=None, message=reason, traceback=traceback.format_exc(limit=8))
        return Command(update={"status": "stopped", "stop_reason": reason, "batch": []}, goto="archive")
    if not plan:
        reason = f"strategy {ctx.strategy.name!r} planned no candidates for round {round_no + 1}"
        ctx.tracer.emit("error", role=None, message=reason)
        return Command(update={"status": "stopped", "stop_reason": reason, "batch": []}, goto="archive")
    records = {}
    for offset, item in enumerate(plan):
        cid = f"{next_id + offset:04d}"
        records[cid] = new_record(
            cid,
            parent=item.parent,
            round=round_no + 1,
            mutation_type=item.mutation_type,
            idea=item.idea,
            sub_category=item.sub_category,
        )
    ctx.tracer.emit(
        "round_planned",
        round=round_no + 1,
        candidates=list(records),
        kinds=[r["mutation_type"] for r in records.values()],
        ideas=[r["idea"] for r in records.values()],
        parents=[r["parent"] for r in records.values()],
    )
    return Command(
        update={
            "candidates": records,
            "batch": list(records),
            "next_id": next_id + len(records),
            "round": round_no + 1,
        },
        goto="mutate",
    )
