"""Feedback role: learns from results which ideas help.

Reads: the outcomes of a round (idea, sub-category, status, veto, accuracy and the parent's).
Writes: per-idea and per-sub-category statistics (:class:`agents.records.FeedbackStats`) in
the run state, which the strategy reads when it samples ideas.
Decides: what counts as an improvement (validation accuracy above the parent's), as a failure
(failed in training, or rejected as broken or over budget) and as a veto (a gate's judgement:
kept apart, it does not count against the idea).

**With an LLM** (``context.llm`` an :class:`agents.llm.LLMClient`), after each round the role
also writes short lessons (:meth:`BuiltinFeedback.lessons`): one chat call (purpose
``feedback.lessons``, keyed by :func:`agents.llm.round_key` as it belongs to no candidate)
shows the round's outcomes (candidate, mutation type, idea and sub-category, status, val
accuracy against the parent's, parameters, MACs, the reason of a rejection), the run's
statistics per sub-category and the previous lessons, and asks for at most 15 bullet lines of
what helped, what hurt and which ideas to avoid. The graph shows the lessons to the mutation
role in its next prompts. The statistics stay the only input of idea sampling: the lessons
never change them.
"""

from __future__ import annotations

from agents.answers import strip_think
from agents.base import FeedbackRole
from agents.llm import round_key
from agents.prompts import render
from agents.records import FeedbackStats, IdeaStats, Outcome
from agents.registry import register_role

__all__ = ["MAX_LESSON_CHARS", "MAX_LESSON_LINES", "BuiltinFeedback", "Outcome"]

MAX_LESSON_LINES = 20
"""Non-blank lines of lessons kept (the prompt asks for at most 15 bullets, plus headings)."""
MAX_LESSON_CHARS = 2500
"""Characters of lessons kept: they go into every mutation prompt of the next round."""


@register_role("feedback")
class BuiltinFeedback(FeedbackRole):
    """Counts tried, improved, failed and vetoed candidates per idea and per sub-category; with an
    LLM, also writes lessons after each round."""

    summary = "keeps per-idea statistics (tried, improved, failed, vetoed) that steer idea sampling"
    reads = "round outcomes: idea, sub-category, status, veto, val accuracy vs the parent's, params, MACs"
    writes = "idea and sub-category statistics in the run state; with an LLM, lessons for the next prompts"
    decides = "improvement = val accuracy above the parent's; failure = failed or broken; a veto is apart"
    llm_mode = True

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

    def lessons(self, round: int, stats: FeedbackStats, outcomes: list[Outcome], previous: str | None) -> str | None:
        """Lessons after round ``round`` from one chat call, or ``None`` without a call.

        ``None`` when the role has no chat client, or when the round has no outcome but the seed
        (nothing was tried). The answer has ``<think>`` blocks stripped and is cut to
        :data:`MAX_LESSON_LINES` non-blank lines and :data:`MAX_LESSON_CHARS` characters; an
        empty answer gives ``None`` (the previous lessons stay). Raises
        :class:`agents.llm.LLMError` (or ``LLMBudgetExhausted``) from the client.
        """
        if self.context.llm is None:
            return None
        if not any(outcome.mutation_type != "seed" for outcome in outcomes):
            return None
        messages = [
            {"role": "system", "content": render("feedback_system.md.j2")},
            {
                "role": "user",
                "content": render("feedback_lessons.md.j2", **lessons_variables(round, stats, outcomes, previous)),
            },
        ]
        reply = self.context.llm.chat(messages, candidate=round_key(round), attempt=0, purpose="feedback.lessons")
        return clip_lessons(strip_think(reply.text))


def lessons_variables(
    round: int, stats: FeedbackStats, outcomes: list[Outcome], previous: str | None
) -> dict[str, object]:
    """The lessons prompt's variables: ``round``, one line per outcome (``outcomes``), one line per
    sub-category of ``stats`` (``sub_categories``, sorted by slug) and ``previous`` (or ``None``)."""
    lines = [_outcome_line(outcome) for outcome in outcomes]
    rows = []
    for slug, entry in sorted(stats.sub_categories.items()):
        trained = entry.tried - entry.failed
        gain = f", mean gain {100 * entry.delta_sum / trained:+.2f} points" if trained > 0 else ""
        rows.append(
            f"{slug}: tried {entry.tried}, improved {entry.improved}, failed {entry.failed}, "
            f"vetoed {entry.vetoed}{gain}"
        )
    return {
        "round": round,
        "outcomes": lines,
        "sub_categories": rows,
        "previous": previous.strip() if previous and previous.strip() else None,
    }


def _outcome_line(outcome: Outcome) -> str:
    idea = ""
    if outcome.idea or outcome.idea_title:
        idea = f', idea "{outcome.idea_title or outcome.idea}"'
    if outcome.sub_category:
        idea += f" [{outcome.sub_category}]"
    status = "rejected (vetoed by a reviewer)" if outcome.vetoed else outcome.status
    parts = [f"{outcome.candidate_id} ({outcome.mutation_type}{idea}): {status}"]
    if outcome.val_acc is not None:
        acc = f"val acc {100 * outcome.val_acc:.2f}%"
        if outcome.parent_val_acc is not None:
            delta = 100 * (outcome.val_acc - outcome.parent_val_acc)
            acc += f" vs parent {100 * outcome.parent_val_acc:.2f}% ({delta:+.2f} points)"
        parts.append(acc)
    if outcome.params is not None:
        parts.append(f"{outcome.params:,} params")
    if outcome.flops is not None:
        parts.append(f"{outcome.flops:,} MACs")
    if outcome.reason and outcome.status != "trained":
        reason = " ".join(outcome.reason.split())
        parts.append("reason: " + (reason if len(reason) <= 300 else reason[:300] + " ..."))
    return ", ".join(parts)


def clip_lessons(text: str) -> str | None:
    """``text`` cut to :data:`MAX_LESSON_LINES` non-blank lines and :data:`MAX_LESSON_CHARS`
    characters (at a line end where possible); ``None`` when nothing is left."""
    kept: list[str] = []
    count = 0
    for line in text.strip().splitlines():
        if line.strip():
            count += 1
            if count > MAX_LESSON_LINES:
                break
        kept.append(line.rstrip())
    clipped = "\n".join(kept).strip()
    if len(clipped) > MAX_LESSON_CHARS:
        cut = clipped[:MAX_LESSON_CHARS]
        clipped = cut[: cut.rfind("\n")] if "\n" in cut else cut
    return clipped.strip() or None
