"""Feedback role: learns from results which ideas help.

Reads: the outcomes of a round (idea, sub-category, status, accuracy and the parent's).
Writes: per-idea and per-sub-category statistics (tried, improved, failed) in the run
state, which the round planner reads when it samples ideas.
Decides: what counts as an improvement (validation accuracy above the parent's) and as
a failure (rejected by a gate or failed in training).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agents.base import Role
from agents.registry import register_role


class Outcome(BaseModel):
    candidate_id: str
    idea: str | None
    sub_category: str | None
    mutation_type: str
    status: str  # trained, failed, rejected
    val_acc: float | None = None
    parent_val_acc: float | None = None


def _empty() -> dict[str, int | float]:
    return {"tried": 0, "improved": 0, "failed": 0, "delta_sum": 0.0}


@register_role("feedback")
class FeedbackRole(Role):
    summary = "keeps per-idea statistics (tried, improved, failed) that steer idea sampling"
    reads = "round outcomes: idea, sub-category, status, val accuracy vs the parent's"
    writes = "idea and sub-category statistics in the run state"
    decides = "improvement = val accuracy above the parent's; failure = rejected or failed"

    def update(self, stats: dict[str, Any], outcomes: list[Outcome]) -> tuple[dict[str, Any], list[str]]:
        """New statistics after ``outcomes``, plus one readable line per outcome that counted."""
        new = {
            "ideas": {k: dict(v) for k, v in stats.get("ideas", {}).items()},
            "sub_categories": {k: dict(v) for k, v in stats.get("sub_categories", {}).items()},
        }
        notes = []
        for outcome in outcomes:
            if outcome.idea is None and outcome.sub_category is None:
                continue
            failed = outcome.status != "trained"
            delta = None
            if not failed and outcome.val_acc is not None and outcome.parent_val_acc is not None:
                delta = outcome.val_acc - outcome.parent_val_acc
            for table, key in (("ideas", outcome.idea), ("sub_categories", outcome.sub_category)):
                if key is None:
                    continue
                entry = new[table].setdefault(key, _empty())
                entry["tried"] += 1
                entry["failed"] += int(failed)
                if delta is not None:
                    entry["improved"] += int(delta > 0)
                    entry["delta_sum"] = round(entry["delta_sum"] + delta, 6)
            verdict = "failed" if failed else ("improved" if delta and delta > 0 else "no gain")
            notes.append(f"{outcome.candidate_id}: {outcome.idea or outcome.sub_category} {verdict}")
        return new, notes
