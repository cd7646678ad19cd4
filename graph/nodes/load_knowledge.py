"""Node ``load_knowledge``: the extractor role builds the idea bank; the run keeps it.

The bank (template and ideas) is written to ``knowledge/bank.json`` in the run directory, the
one copy a resumed run reads; the state holds only the extractor's summary, never the ideas.
"""

from __future__ import annotations

import traceback
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from graph.context import RunContext, Timer
from graph.state import RunState


def load_knowledge(state: RunState, runtime: Runtime[RunContext]) -> Command[Literal["plan_round", "archive"]]:
    """Build the bank once per run; an extractor error stops the run with the reason."""
    ctx = runtime.context
    role = ctx.roles.extractor
    given = (
        f"template {ctx.settings.knowledge.template or 'shipped'}, "
        f"ideas {[str(p) for p in ctx.settings.knowledge.ideas] or 'shipped starter set'}"
    )
    with Timer() as timer:
        try:
            bank, summary = role.build(ctx.store.knowledge_dir)
        except Exception as exc:  # noqa: BLE001 - a role's failure is recorded, never a traceback
            reason = f"extractor {role.name!r} failed: {type(exc).__name__}: {exc}"
            ctx.tracer.emit(
                "role_error",
                role=role.name,
                candidate=None,
                given=given,
                message=reason,
                traceback=traceback.format_exc(limit=8),
                seconds=timer.seconds,
            )
            return Command(update={"status": "stopped", "stop_reason": reason, "batch": []}, goto="archive")
    ctx.store.write_bank(bank)
    ctx._bank = bank
    ctx.tracer.emit(
        "role_step",
        role=role.name,
        given=given,
        decided=f"{summary.ideas} ideas over {summary.covered_sub_categories}/{summary.sub_categories} "
        f"sub-categories in the store ({summary.store_count} entries)",
        empty_sub_categories=summary.empty_sub_categories,
        bank=str(ctx.store.bank_file),
        seconds=timer.seconds,
        tokens=None,
    )
    return Command(update={"knowledge": summary.model_dump()}, goto="plan_round")
