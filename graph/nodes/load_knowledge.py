"""Node ``load_knowledge``: the extractor role builds the idea store; the state gets idea ids."""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from graph.context import RunContext, Timer
from graph.state import RunState


def load_knowledge(state: RunState, runtime: Runtime[RunContext]) -> Command[Literal["plan_round"]]:
    ctx = runtime.context
    role = ctx.roles["extractor"]
    with Timer() as timer:
        bank, summary = role.build(ctx.store.knowledge_dir)  # type: ignore[attr-defined]
    ctx._bank = bank
    ctx.tracer.emit(
        "role_step",
        role=role.name,
        given=f"template {ctx.settings.knowledge.template or 'shipped'}, "
        f"ideas {[str(p) for p in ctx.settings.knowledge.ideas] or 'shipped starter set'}",
        decided=f"{summary.ideas} ideas over {summary.covered_sub_categories}/{summary.sub_categories} "
        f"sub-categories in the store ({summary.store_count} entries)",
        empty_sub_categories=summary.empty_sub_categories,
        seconds=timer.seconds,
        tokens=None,
    )
    return Command(
        update={
            "ideas": {idea.id: idea.sub_category for idea in bank.ideas},
            "knowledge": summary.model_dump(),
        },
        goto="plan_round",
    )
