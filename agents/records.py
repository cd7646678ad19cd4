"""The records the graph and the roles exchange, in one place and typed.

Every record is a pydantic model, so a role written by someone else gets the same validation
as the built-in ones, and the closed vocabularies below are checked where records are made:

* :data:`MutationType` - how a candidate is made from its parent. A strategy declares the
  types it plans (:attr:`graph.strategies.Strategy.mutation_types`); a mutation role
  handles them all or refuses with :class:`MutationFailed`.
* :data:`CandidateStatus` - where a candidate is in the loop (``graph/state.py`` documents
  the order); ``trained``, ``failed`` and ``rejected`` are final.
* :data:`RepairKind` - what a gate's rejection asks the mutation role to do.

The flow: the graph sends a :class:`MutationRequest` to the mutation role and gets a
:class:`MutationResult`; each gate gets a :class:`Proposal` and answers a :class:`Review`;
after training, the feedback role turns :class:`Outcome` records into :class:`FeedbackStats`
(what the strategy reads when it samples ideas); the extractor reports a
:class:`KnowledgeSummary`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

MutationType = Literal["seed", "fair_idea", "pareto_scale_up", "pareto_tune", "iterative", "random_edit"]
"""``seed``: the first candidate, no parent. ``fair_idea``: apply one idea from the bank.
``pareto_scale_up``: widen or deepen a small parent. ``pareto_tune``: change a hyperparameter
keeping depth and width. ``iterative``: the best parent, its best idea, then a second
refinement. ``random_edit``: one random edit of any kind (baseline strategies)."""
MUTATION_TYPES: frozenset[str] = frozenset(get_args(MutationType))

CandidateStatus = Literal["planned", "proposed", "retry", "refine", "approved", "trained", "failed", "rejected"]
CANDIDATE_STATUSES: frozenset[str] = frozenset(get_args(CandidateStatus))

RepairKind = Literal["ok", "execution", "budget", "structure", "review"]
"""``execution``: debug an error; ``budget``: downscale; ``structure``: make a real, deeper
change; ``review``: a gate's judgement (a veto), answered by a different edit."""
REPAIR_KINDS: frozenset[str] = frozenset(get_args(RepairKind))


class Record(BaseModel):
    """Base of the exchanged records: unknown fields are errors, numbers are finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class MutationFailed(RuntimeError):
    """A mutation role cannot produce a candidate for this request; the message says why.

    The graph records the candidate as ``rejected`` with the message and the run goes on.
    """


class MutationRetry(RuntimeError):
    """A mutation role's attempt produced nothing checkable (an LLM answer cut short, no code, edits
    that do not apply); the graph records it as an ``execution`` rejection from the mutation role
    and asks again within ``roles.retries.execution``, with the message in the request's feedback.
    ``analysis`` carries an iterative step 1's analysis written before the attempt failed (the
    graph keeps it as ``analysis.md``, so the retry does not ask for it again).
    """

    def __init__(self, code: str, message: str, analysis: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.analysis = analysis


class ReviewNote(Record):
    """One gate rejection of an earlier attempt, as the mutation role reads it on a retry."""

    role: str = Field(description="the gate that rejected")
    code: str = Field(description="a verifier code (verify report contract) or the gate's own code")
    kind: RepairKind
    message: str
    transformation: str | None = Field(default=None, description="the edit that was rejected")


class HistoryEntry(Record):
    """One trained candidate as the iterative mutation is shown it (accuracy as a fraction)."""

    id: str
    mutation_type: str
    idea: str | None = None
    idea_title: str | None = None
    sub_category: str | None = None
    transformation: str | None = None
    val_acc: float | None = None
    params: int | None = None
    flops: int | None = Field(default=None, description="MACs per image")
    poor: bool = Field(default=False, description="one of the poor candidates, shown as a contrast")


class RelatedIdea(Record):
    """An idea of the bank related to the requested one (same sub-category, else same main category)."""

    id: str
    title: str
    sub_category: str
    description: str = ""


class MutationRequest(Record):
    """What the mutation role is asked to make (one candidate, one attempt)."""

    candidate_id: str
    mutation_type: MutationType
    parent_id: str | None = None
    parent_spec: dict[str, Any] | None = Field(default=None, description="the parent's spec.json, None if code-only")
    parent_source: str | None = Field(default=None, description="the parent's model.py")
    parent_params: int | None = Field(default=None, description="the parent's measured parameters")
    parent_flops: int | None = Field(default=None, description="the parent's measured MACs per image")
    idea: str | None = Field(default=None, description="idea id from the bank")
    idea_title: str | None = None
    idea_description: str | None = None
    idea_evidence: str | None = Field(default=None, description="what the paper reports for the idea, if known")
    idea_source: str | None = Field(default=None, description="the paper or card the idea comes from")
    sub_category: str | None = Field(default=None, description="template slug level.category.sub_category")
    input_shape: tuple[int, int, int] = Field(description="(channels, height, width) of one image")
    max_params: int = Field(default=1_500_000, gt=0, description="parameter budget")
    max_flops: int = Field(default=200_000_000, gt=0, description="MACs budget per image")
    seed_model: str = "resnet32"
    attempt: int = Field(default=0, ge=0, description="0 for the first try, +1 per gate rejection")
    previous_spec: dict[str, Any] | None = Field(
        default=None, description="the spec of the attempt that was just rejected"
    )
    previous_source: str | None = Field(default=None, description="the model.py of the attempt just rejected")
    feedback: list[ReviewNote] = Field(default_factory=list, description="reviews of earlier attempts, oldest first")
    seed: int = 0
    variant: int = Field(default=0, ge=0, description="asks for a different edit (after a duplicate or a veto)")
    duplicates: list[str] = Field(
        default_factory=list,
        description="earlier answers to this request that reproduced an architecture already in the run "
        "(what they did and which candidate they repeat), oldest first",
    )
    iter_step: int | None = Field(
        default=None,
        ge=1,
        le=2,
        description="iterative mutation with an LLM: 1 applies the idea (verified only), 2 refines step 1 "
        "(trained and counted); None otherwise",
    )
    step1_spec: dict[str, Any] | None = Field(default=None, description="step 2: the verified step 1's spec")
    step1_source: str | None = Field(default=None, description="step 2: the verified step 1's model.py")
    analysis: str | None = Field(
        default=None, description="iterative: the analysis written at step 1 (analysis.md), for later steps"
    )
    history: list[HistoryEntry] = Field(
        default_factory=list, description="iterative: the best trained candidates, then a few poor ones"
    )
    related_ideas: list[RelatedIdea] = Field(
        default_factory=list, description="iterative: other ideas of the same sub-category and main category"
    )
    lessons: str | None = Field(
        default=None, description="the feedback role's latest lessons (Markdown), None when it wrote none"
    )


class MutationResult(Record):
    """A proposed candidate: its source (always) and its spec (``None`` for code-only candidates)."""

    spec: dict[str, Any] | None
    source: str = Field(description="model.py: defines build_model(num_classes) -> torch.nn.Module")
    transformation: str = Field(description="a readable description of the edit")
    structure_hash: str = Field(description="equal for equal architectures; duplicates are refused")
    mode: Literal["builtin", "code", "diff", "spec"] = Field(
        default="builtin", description="how it was made: the built-in policy, or the LLM's mode"
    )
    step: int | None = Field(
        default=None,
        ge=1,
        le=2,
        description="1: the first step of an iterative mutation (verified only, then refined); None: final",
    )
    analysis: str | None = Field(default=None, description="iterative: the analysis to keep as analysis.md")


class Proposal(Record):
    """A mutated candidate waiting for review (what gate roles read)."""

    candidate_id: str
    parent_id: str | None
    mutation_type: MutationType
    transformation: str
    idea: str | None = None
    idea_title: str | None = Field(default=None, description="the idea's title from the bank, if it holds the idea")
    idea_description: str | None = None
    sub_category: str | None = None
    model_path: Path = Field(description="the candidate's model.py (read it, never import it)")
    parent_model_path: Path | None = None
    spec: dict[str, Any] | None = Field(
        default=None,
        description="the spec (fairnad_tools.arch.ArchSpec as JSON: stages[i].block.kernel_size, ...); "
        "None for a code-only candidate",
    )
    parent_spec: dict[str, Any] | None = None
    input_shape: tuple[int, int, int]
    num_classes: int = Field(gt=0)
    attempt: int = Field(default=0, ge=0)


class Review(Record):
    """A gate role's verdict on a proposal.

    ``kind`` tells the mutation role what repair to try (:data:`RepairKind`); ``report`` is
    written to the gate's file in the candidate folder, ``measurements`` (``params``, ``flops``)
    to the candidate's record.
    """

    approved: bool
    code: str = "ok"
    message: str = "ok"
    kind: RepairKind = "ok"
    measurements: dict[str, Any] = Field(default_factory=dict)
    report: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _rejection_has_a_kind(self) -> Review:
        if not self.approved and self.kind == "ok":
            raise ValueError(
                "a rejection needs a kind: 'execution', 'budget', 'structure' or 'review' (a veto: the "
                "mutation role is asked for a different edit)"
            )
        return self


class Outcome(Record):
    """A candidate's final result, as the feedback role reads it."""

    candidate_id: str
    idea: str | None
    sub_category: str | None
    mutation_type: MutationType
    status: Literal["trained", "failed", "rejected"]
    vetoed: bool = Field(default=False, description="rejected by a gate's judgement (kind 'review'), not by a failure")
    val_acc: float | None = Field(default=None, description="validation accuracy in [0, 1]")
    parent_val_acc: float | None = None
    idea_title: str | None = Field(default=None, description="the idea's title from the bank")
    params: int | None = Field(default=None, description="measured parameters (None when never measured)")
    flops: int | None = Field(default=None, description="measured MACs per image (None when never measured)")
    reason: str | None = Field(default=None, description="why it was rejected or failed (None when trained)")


class IdeaStats(Record):
    """How an idea (or a sub-category) fared: counts of candidates, and the summed accuracy gain.

    ``tried`` counts trained, failed and broken (gate-rejected) candidates; a veto is kept
    apart in ``vetoed`` and does not count against the idea.
    """

    tried: int = 0
    improved: int = Field(default=0, description="trained with val accuracy above the parent's")
    failed: int = Field(default=0, description="failed in training or rejected as broken")
    vetoed: int = Field(default=0, description="refused by a gate's judgement; not in tried")
    delta_sum: float = Field(default=0.0, description="sum of (val acc - parent val acc), in [0, 1] units")


class FeedbackStats(Record):
    """The feedback role's statistics, keyed by idea id and by sub-category slug."""

    ideas: dict[str, IdeaStats] = Field(default_factory=dict)
    sub_categories: dict[str, IdeaStats] = Field(default_factory=dict)


class KnowledgeSummary(Record):
    """What the extractor built."""

    ideas: int
    sub_categories: int
    covered_sub_categories: int
    empty_sub_categories: list[str]
    store_count: int
    store: str
    seconds: float
