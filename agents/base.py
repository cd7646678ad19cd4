"""Base classes of agent roles, and the records they exchange with the graph.

Lifecycle of a role (the graph drives it):

1. the class is looked up by name in the registry and constructed once per run process
   with a :class:`RoleContext` (settings, chat model or ``None``, seed);
2. the graph calls the role's step method (``mutate``, ``review``, ``update``, ``build``)
   once per candidate or round, passing plain records; the role returns a record and
   never touches the run directory itself (the graph writes files and traces).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field


@dataclass
class RoleContext:
    """What every role receives at construction."""

    settings: Any  # the composed FairNAD settings; each role reads its own sections
    llm: Any = None  # a LangChain chat model, or None for the built-in policy
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Role:
    """A named agent role. Subclasses document what they read, write and decide."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    reads: ClassVar[str] = ""
    writes: ClassVar[str] = ""
    decides: ClassVar[str] = ""

    def __init__(self, context: RoleContext) -> None:
        self.context = context

    @property
    def uses_llm(self) -> bool:
        return self.context.llm is not None


class Proposal(BaseModel):
    """A mutated candidate waiting for review (what gate roles read)."""

    candidate_id: str
    parent_id: str | None
    mutation_type: str
    transformation: str
    idea: str | None = None
    sub_category: str | None = None
    model_path: Path
    parent_model_path: Path | None = None
    spec: dict[str, Any] | None = None
    input_shape: tuple[int, int, int]
    num_classes: int
    attempt: int = 0


class Review(BaseModel):
    """A gate role's verdict on a proposal.

    ``kind`` tells the mutation role what repair to try: ``execution`` (debug),
    ``budget`` (downscale), ``structure`` (make a real, deeper change) or ``review``
    (address the reviewer's message).
    """

    approved: bool
    code: str = "ok"
    message: str = "ok"
    kind: Literal["ok", "execution", "budget", "structure", "review"] = "ok"
    measurements: dict[str, Any] = Field(default_factory=dict)
    report: dict[str, Any] = Field(default_factory=dict)


class GateRole(Role):
    """A role placed between mutation and training (``[roles] gates`` in the settings).

    ``review`` is called once per proposal, in gate order; a rejection sends the
    candidate back to the mutation role with the message (bounded retries).
    """

    report_file: ClassVar[str] = ""  # file name in the candidate folder; default "<name>.json"

    def review(self, proposal: Proposal) -> Review:
        raise NotImplementedError
