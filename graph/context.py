"""The run context: what nodes need that is not state (never checkpointed).

Built once per run process by the runner and passed to LangGraph as the ``context``
(``context_schema``); nodes read it through ``runtime.context``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agents.base import ExtractorRole, FeedbackRole, GateRole, MutationRole, RoleContext
from agents.llm import make_chat_model
from agents.registry import RoleRegistryError, get_role
from fairnad_tools.data import DatasetInfo, dataset_info
from fairnad_tools.spaces import SearchSpace, make_space
from fairnad_tools.train.executor import Executor, LocalExecutor
from graph.settings import FairNADSettings
from graph.store import RunStore
from graph.strategies import Strategy, get_strategy
from graph.trace import TraceWriter
from knowledge.ideas import IdeaBank

ProgressFn = Callable[[dict[str, Any]], None]


@dataclass
class Roles:
    """The configured role instances: one per part, and the gates in order."""

    extractor: ExtractorRole
    mutation: MutationRole
    feedback: FeedbackRole
    gates: dict[str, GateRole]


def make_roles(settings: FairNADSettings, llm: Any = None, space: SearchSpace | None = None) -> Roles:
    """Instantiate the configured roles (``[roles]``), each checked against its part's base class.

    Raises :class:`RoleRegistryError` naming the setting for an unknown role, a role that
    cannot play its part (``roles.mutation = "feedback"``) or a gate listed twice.
    """
    from agents.registry import discover

    discover()  # a broken plugin is reported as itself, not as a bad value of the first setting read
    context = RoleContext(settings=settings, llm=llm, seed=settings.search.seed, space=space)
    parts: dict[str, Any] = {}
    for part in ("extractor", "mutation", "feedback"):
        name = getattr(settings.roles, part)
        try:
            parts[part] = get_role(name, part)(context)
        except RoleRegistryError as exc:
            raise RoleRegistryError(f"bad value for 'roles.{part}': {exc}") from None
    gates: dict[str, GateRole] = {}
    for name in settings.roles.gates:
        try:
            cls = get_role(name, "gate")
        except RoleRegistryError as exc:
            raise RoleRegistryError(f"bad value in 'roles.gates': {exc}") from None
        if name in gates:
            raise RoleRegistryError(f"role {name!r} appears twice in [roles] gates; list each gate once")
        gates[name] = cls(context)
    return Roles(parts["extractor"], parts["mutation"], parts["feedback"], gates)


def make_plugins(settings: FairNADSettings) -> tuple[SearchSpace, Strategy]:
    """The configured search space and strategy; raises ``SpaceError`` / ``StrategyError`` naming
    the setting and the registered names for an unknown one."""
    from fairnad_tools.spaces import SpaceError
    from graph.strategies import StrategyError

    try:
        space = make_space(settings.search.space)
    except SpaceError as exc:
        raise SpaceError(f"bad value for 'search.space': {exc}") from None
    try:
        strategy = get_strategy(settings.search.strategy)(settings.search)
    except StrategyError as exc:
        raise StrategyError(f"bad value for 'search.strategy': {exc}") from None
    return space, strategy


@dataclass
class RunContext:
    """What the nodes of one run process share: settings, store, trace, roles, space, strategy."""

    settings: FairNADSettings
    store: RunStore
    tracer: TraceWriter
    roles: Roles
    space: SearchSpace
    strategy: Strategy
    executor: Executor = field(default_factory=LocalExecutor)
    progress: ProgressFn | None = None
    _bank: IdeaBank | None = None

    @classmethod
    def create(cls, settings: FairNADSettings, store: RunStore, progress: ProgressFn | None = None) -> RunContext:
        """The context of a run process: roles (with the configured chat model), space and strategy."""
        space, strategy = make_plugins(settings)
        roles = make_roles(settings, make_chat_model(settings.llm), space)
        return cls(settings, store, TraceWriter(store.trace_file), roles, space, strategy, progress=progress)

    @staticmethod
    def validate_roles(settings: FairNADSettings) -> None:
        """Fail before a run starts when a configured role, space or strategy is unknown or cannot
        play its part."""
        space, _ = make_plugins(settings)
        make_roles(settings, space=space)

    @property
    def mutation(self) -> MutationRole:
        """The mutation role."""
        return self.roles.mutation

    @property
    def gates(self) -> dict[str, GateRole]:
        """The gate roles by name, in order."""
        return self.roles.gates

    @property
    def dataset(self) -> DatasetInfo:
        """The configured dataset's shape, classes and defaults."""
        return dataset_info(self.settings.data.dataset)

    def bank(self) -> IdeaBank:
        """The run's idea bank: the one ``load_knowledge`` kept in the run directory.

        A run made before runs kept their bank falls back to the configured idea files.
        """
        if self._bank is None:
            self._bank = self.store.read_bank()
        if self._bank is None:
            load_bank = getattr(self.roles.extractor, "load_bank", None)
            if not callable(load_bank):
                raise RuntimeError(f"the run at {self.store.root} has no idea bank ({self.store.bank_file})")
            self._bank = load_bank()
        return self._bank

    def report(self, **fields: Any) -> None:
        """Pass progress fields to the command line's progress display, if any."""
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
