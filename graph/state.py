"""Graph state: small typed records only. Code, logs and weights live in the run directory.

Candidate statuses move forward only:
``planned`` -> ``proposed`` -> (``retry`` -> ``proposed``)* -> ``approved`` -> ``trained`` | ``failed``,
or -> ``rejected`` when the mutation role or a gate gives up. An iterative mutation made by an LLM
passes the gates twice: its first step, once approved, goes ``refine`` -> ``proposed`` (step 2) and
only step 2 is trained.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from agents.records import CandidateStatus, MutationType

FINAL_STATUSES = frozenset({"trained", "failed", "rejected"})
COUNTED_STATUSES = frozenset({"trained", "failed"})  # what the budget counts


class CandidateRecord(TypedDict):
    id: str
    parent: str | None
    round: int
    mutation_type: MutationType
    transformation: str | None
    idea: str | None
    sub_category: str | None
    status: CandidateStatus
    reason: str | None
    params: int | None
    flops: int | None
    val_acc: float | None
    test_acc: float | None
    seconds: float | None
    structure_hash: str | None
    attempt: int
    retries: dict[str, int]
    feedback: list[dict[str, Any]]  # agents.records.ReviewNote as JSON, oldest first
    error_role: str | None  # the role whose unexpected exception rejected this candidate
    vetoed: list[str]  # structure hashes a gate vetoed: the mutation role must not propose them again
    mode: str | None  # how the mutation role made it: builtin, code, diff, spec (agents.records.MutationResult)
    llm_error: bool  # rejected because the LLM service failed (counts toward llm.max_consecutive_failures)
    not_made: bool  # never made: the run stopped first (an LLM budget reached, a replay's recording ended)
    iter_step: int | None  # iterative mutation with an LLM: 1 or 2 (agents.records.MutationRequest.iter_step)


def new_record(
    cid: str,
    *,
    parent: str | None,
    round: int,
    mutation_type: MutationType,
    idea: str | None = None,
    sub_category: str | None = None,
) -> CandidateRecord:
    return CandidateRecord(
        id=cid,
        parent=parent,
        round=round,
        mutation_type=mutation_type,
        transformation=None,
        idea=idea,
        sub_category=sub_category,
        status="planned",
        reason=None,
        params=None,
        flops=None,
        val_acc=None,
        test_acc=None,
        seconds=None,
        structure_hash=None,
        attempt=0,
        retries={},
        feedback=[],
        error_role=None,
        vetoed=[],
        mode=None,
        llm_error=False,
        not_made=False,
        iter_step=None,
    )


def merge_candidates(
    old: dict[str, CandidateRecord] | None, new: dict[str, CandidateRecord] | None
) -> dict[str, CandidateRecord]:
    """Reducer: records are replaced whole, by id."""
    merged = dict(old or {})
    merged.update(new or {})
    return merged


class RunState(TypedDict, total=False):
    run_id: str
    budget: int
    round: int
    next_id: int
    candidates: Annotated[dict[str, CandidateRecord], merge_candidates]
    batch: list[str]
    stats: dict[str, Any]  # agents.records.FeedbackStats as JSON
    knowledge: dict[str, Any]  # agents.records.KnowledgeSummary as JSON (the bank itself is in the run dir)
    consecutive_rejections: int
    consecutive_role_errors: int
    consecutive_llm_failures: int
    lessons: str | None  # the feedback role's latest lessons (Markdown; absent or None: none yet)
    lessons_round: int | None  # the round those lessons were made after
    status: str  # running, finished, stopped
    stop_reason: str | None


def counted(state: RunState) -> int:
    return sum(1 for c in state.get("candidates", {}).values() if c["status"] in COUNTED_STATUSES)


def trained(state: RunState) -> list[CandidateRecord]:
    return [c for c in state.get("candidates", {}).values() if c["status"] == "trained" and c["val_acc"] is not None]
