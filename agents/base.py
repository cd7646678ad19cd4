"""Base classes of agent roles: one per part the graph plays (extractor, mutation, gate, feedback).

Lifecycle of a role (the graph drives it):

1. the class is looked up by name in the registry (``[roles]`` in the settings names one
   role per part and the gates in order) and constructed once per run process with a
   :class:`RoleContext` (settings, chat model or ``None``, seed, search space). Start-up
   refuses a role configured for a part whose base it does not subclass;
2. the graph calls the part's step method (``build``, ``mutate``, ``review``, ``update``)
   with a record from :mod:`agents.records` and gets a record back; a role never touches
   the run directory (the graph writes files and the trace);
3. an unexpected exception in a step rejects that one candidate (the trace names the role
   and the error) and the run goes on; ``roles.max_consecutive_errors`` errors in a row stop it.

A new role is one module in ``agents/`` (or in your own package, named by the
``fairnad.roles`` entry-point group) with a subclass of one of these bases decorated by
:func:`agents.registry.register_role`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from agents.records import (
    FeedbackStats,
    KnowledgeSummary,
    MutationFailed,
    MutationRequest,
    MutationResult,
    Outcome,
    Proposal,
    Review,
)

if TYPE_CHECKING:
    from fairnad_tools.spaces import SearchSpace
    from knowledge.ideas import IdeaBank

__all__ = [
    "PARTS",
    "ExtractorRole",
    "FeedbackRole",
    "GateRole",
    "MutationFailed",
    "MutationRole",
    "Proposal",
    "Review",
    "Role",
    "RoleContext",
]


@dataclass
class RoleContext:
    """What every role receives at construction.

    ``settings`` is the composed :class:`graph.settings.FairNADSettings` (each role reads its
    own sections); ``llm`` a LangChain chat model, or ``None`` for the built-in policy;
    ``seed`` the run's seed; ``space`` the configured search space (``None``: the role makes
    the one ``search.space`` names when it needs it).
    """

    settings: Any
    llm: Any = None
    seed: int = 0
    space: SearchSpace | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Role:
    """A named agent role. Subclasses document what they read, write and decide.

    ``part`` is the graph part the class can play (set by the part bases below); ``name`` is
    set by :func:`agents.registry.register_role`.
    """

    name: ClassVar[str] = ""
    part: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    reads: ClassVar[str] = ""
    writes: ClassVar[str] = ""
    decides: ClassVar[str] = ""
    llm_mode: ClassVar[bool] = False
    """True when the role has an LLM mode: it then gets a chat client (``context.llm``) whenever an
    LLM is configured and :meth:`llm_off` does not switch the mode off; a role without one runs its
    built-in policy and says so in the run header."""

    @classmethod
    def llm_off(cls, settings: Any) -> str | None:
        """Why this role's LLM mode is switched off by ``settings`` (a short phrase naming the setting,
        e.g. ``"LLM review off: verify.llm_review"``), or ``None`` when it is on.

        ``settings`` is the composed :class:`graph.settings.FairNADSettings`. Only asked of roles
        with ``llm_mode``; the default is ``None`` (on whenever an LLM is configured).
        """
        return None

    @classmethod
    def wants_llm(cls, settings: Any) -> bool:
        """Whether this role would use a configured LLM under ``settings``: it has an LLM mode and
        :meth:`llm_off` does not switch it off. Only such a role gets a chat client."""
        return cls.llm_mode and cls.llm_off(settings) is None

    def __init__(self, context: RoleContext) -> None:
        self.context = context

    @property
    def uses_llm(self) -> bool:
        """Whether a chat model is configured (else the built-in policy runs)."""
        return self.context.llm is not None


class ExtractorRole(Role):
    """Builds the run's idea bank (``[roles] extractor``); called once, at the start of a new run."""

    part: ClassVar[str] = "extractor"

    def build(self, store_dir: Path) -> tuple[IdeaBank, KnowledgeSummary]:
        """Make the idea bank and fill the vector store at ``store_dir`` (or the configured server).

        Called by the ``load_knowledge`` node of a new run; the graph then keeps the returned
        bank in the run directory (``knowledge/bank.json``) and a resumed run reads it from
        there, so ``build`` is not called again. Raises ``TemplateError`` or ``StoreError``
        (from :mod:`knowledge`) for a bad template, idea file or store.
        """
        raise NotImplementedError


class MutationRole(Role):
    """Proposes candidates (``[roles] mutation``); called once per planned or sent-back candidate."""

    part: ClassVar[str] = "mutation"

    def realisable_sub_categories(self) -> set[str] | None:
        """Template sub-categories this role can realise; ``None`` means any (an LLM writes code).

        Called by the ``plan_round`` node once per round: strategies draw ideas only from these.
        """
        return None

    def mutate(self, request: MutationRequest) -> MutationResult:
        """Make the candidate ``request`` asks for.

        On a retry, ``request.feedback`` holds the gate reviews of earlier attempts (the last
        one decides the repair: ``budget`` downscale, ``execution`` debug, ``structure`` or
        ``review`` a different edit) and ``request.previous_spec`` the rejected spec. When
        the result repeats an architecture already in the run, or the one a gate just vetoed,
        the graph calls again with ``request.variant`` raised. Raises :class:`MutationFailed`
        when the request cannot be met (the candidate is rejected with the message).
        """
        raise NotImplementedError


class GateRole(Role):
    """A check between mutation and training (``[roles] gates``, in order).

    ``review`` is called once per proposal, in gate order; a rejection sends the candidate
    back to the mutation role with the message, within the retry limit of its ``kind``
    (``[roles.retries]``). A rejection of kind ``review`` is a veto: the mutation role is
    asked for a different edit, and the idea is not counted as failed.
    """

    part: ClassVar[str] = "gate"
    report_file: ClassVar[str] = ""
    """File name of the report in the candidate folder; default ``"<name>.json"``."""

    def review(self, proposal: Proposal) -> Review:
        """Approve or reject ``proposal``; ``Review.report`` is written to :attr:`report_file`."""
        raise NotImplementedError


class FeedbackRole(Role):
    """Learns from results (``[roles] feedback``); called once per round, after training."""

    part: ClassVar[str] = "feedback"

    def update(self, stats: FeedbackStats, outcomes: list[Outcome]) -> tuple[FeedbackStats, list[str]]:
        """New statistics after the round's ``outcomes`` (final candidates, in id order).

        Returns the statistics the strategy reads when it samples ideas, and one readable line
        per outcome that counted (for the trace). Must not modify ``stats`` in place.
        """
        raise NotImplementedError

    def lessons(self, round: int, stats: FeedbackStats, outcomes: list[Outcome], previous: str | None) -> str | None:
        """Short Markdown lessons after round ``round``, or ``None`` for none (the default: built-in).

        Called by the ``feedback`` node after :meth:`update`, with the statistics it returned,
        the same ``outcomes`` and the previous round's lessons (``None`` before the first).
        The graph writes the text to ``lessons/round-NN.md`` and ``lessons.md`` and shows it in
        the mutation role's next prompts (``MutationRequest.lessons``); it never changes the
        statistics, which alone steer idea sampling. ``None`` keeps the previous lessons.
        May raise ``agents.llm.LLMError`` (the graph keeps the previous lessons and goes on).
        """
        return None


PARTS: dict[str, type[Role]] = {
    "extractor": ExtractorRole,
    "mutation": MutationRole,
    "gate": GateRole,
    "feedback": FeedbackRole,
}
"""The base class each part of the graph needs, by part name."""
