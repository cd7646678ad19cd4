"""The run context: what nodes need that is not state (never checkpointed).

Built once per run process by the runner and passed to LangGraph as the ``context``
(``context_schema``); nodes read it through ``runtime.context``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agents.base import GateRole, Role, RoleContext
from agents.llm import make_chat_model
from agents.registry import RoleRegistryError, get_role
from fairnad_tools.data import DatasetInfo, dataset_info
from fairnad_tools.train.executor import Executor, LocalExecutor
from graph.settings import FairNADSettings
from graph.store import RunStore
from graph.trace import TraceWriter
from knowledge.ideas import IdeaBank

ProgressFn = Callable[[dict[str, Any]], None]


def make_roles(settings: FairNADSettings, llm: Any = None) -> tuple[dict[str, Role], dict[str, GateRole]]:
    """Instantiate the configured roles: the three parts by name, and the gates in order."""
    context = RoleContext(settings=settings, llm=llm, seed=settings.search.seed)
    parts: dict[str, Role] = {}
    for part in ("extractor", "mutation", "feedback"):
        parts[part] = get_role(getattr(settings.roles, part))(context)
    gates: dict[str, GateRole] = {}
    for name in settings.roles.gates:
        cls = get_role(name)
        if not issubclass(cls, GateRole):
            raise RoleRegistryError(
                f"role {name!r} cannot be a gate in [roles] gates: it is not a GateRole "
                "(a gate implements review(proposal) -> Review)"
            )
        if name in gates:
            raise RoleRegistryError(f"role {name!r} appears twice in [roles] gates")
        gates[name] = cls(context)
    return parts, gates


@dataclass
class RunContext:
    settings: FairNADSettings
    store: RunStore
    tracer: TraceWriter
    roles: dict[str, Role]
    gates: dict[str, GateRole]
    executor: Executor = field(default_factory=LocalExecutor)
    progress: ProgressFn | None = None
    _bank: IdeaBank | None = None

    @classmethod
    def create(cls, settings: FairNADSettings, store: RunStore, progress: ProgressFn | None = None) -> RunContext:
        roles, gates = make_roles(settings, make_chat_model(settings.llm))
        return cls(settings, store, TraceWriter(store.trace_file), roles, gates, progress=progress)

    @staticmethod
    def validate_roles(settings: FairNADSettings) -> None:
        """Fail before a run starts when a configured role is unknown or cannot play its part."""
        make_roles(settings)

    @property
    def dataset(self) -> DatasetInfo:
        return dataset_info(self.settings.data.dataset)

    def bank(self) -> IdeaBank:
        """The idea bank (loaded once; after a resume, without rebuilding the store)."""
        if self._bank is None:
            self._bank = self.roles["extractor"].load_bank()  # type: ignore[attr-defined]
        return self._bank

    def report(self, **fields: Any) -> None:
        if self.progress is not None:
            self.progress(fields)


class Timer:
    """``with Timer() as t: ...; t.seconds``"""

    def __enter__(self) -> Timer:
        self.start = time.monotonic()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = round(time.monotonic() - self.start, 3)
