"""Feedback role: learns from results which ideas help.

Reads: the outcomes of a round (idea, sub-category, status, veto, accuracy and the parent's).
Writes: per-idea and per-sub-category statistics (:class:`agents.records.FeedbackStats`) in
the run state, which the strategy reads when it samples ideas.
Decides: what counts as an improvement (validation accuracy above the parent's), as a failure
(failed in training, or rejected as broken or over budget) and as a veto (a gate's judgement:
kept apart, it does not count against the idea).
"""

from __future__ import annotations

from agents.base import FeedbackRole
from agents.records import FeedbackStats, IdeaStats, Outcome
from agents.registry import register_role

__all__ = ["BuiltinFeedback", "Outcome"]


@register_role("feedback")
class BuiltinFeedback(FeedbackRole):
    """Counts tried, improved, failed and vetoed candidates per idea and per sub-category."""

    summary = "keeps per-idea statistics (tried, improved, failed, vetoed) that steer idea sampling"
    reads = "round outcomes: idea, sub-category, status, veto, val accuracy vs the parent's"
    writes = "idea and sub-category statistics in the run state"
    decides = "improvement = val accuracy above the parent's; failure = failed or broken; a veto is apart"

    def update(self, stats: FeedbackStats, outcomes: list[Outcome]) -> tuple[FeedbackStats, list[str]]:
        """New statistics after ``outcomes``, plus one readable line per outcome that counted."""
        new = stats.model_copy(deep=True)
        notes = []
        for outcome in outcomes:
            if outcome.idea is None and outcome.sub_category is None:
                continue
            failed = outcome.status != "trained" and not outcome.vetoed
            delta = None
            if outcome.status == "trained" and outcome.val_acc is not None and outcome.parent_val_acc is not None:
                delta = outcome.val_acc - outcome.parent_val_acc
            for table, key in ((new.ideas, outcome.idea), (new.sub_categories, outcome.sub_category)):
                if key is None:
                    continue
                entry = table.setdefault(key, IdeaStats())
                if outcome.vetoed:
                    entry.vetoed += 1
                    continue
                entry.tried += 1
                entry.failed += int(failed)
                if delta is not None:
                    entry.improved += int(delta > 0)
                    entry.delta_sum = round(entry.delta_sum + delta, 6)
            if outcome.vetoed:
                verdict = "vetoed by a gate (not counted against it)"
            else:
                verdict = "failed" if failed else ("improved" if delta and delta > 0 else "no gain")
            notes.append(f"{outcome.candidate_id}: {outcome.idea or outcome.sub_category} {verdict}")
        return new, notes
