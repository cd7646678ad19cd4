"""The run context: what nodes need that is not state (never checkpointed).

Built once per run process by the runner and passed to LangGraph as the ``context``
(``context_schema``); nodes read it through ``runtime.context``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.base import ExtractorRole, FeedbackRole, GateRole, MutationRole, Role, RoleContext
from agents.llm import Ledger, Recordings, make_client
from agents.registry import RoleRegistryError, get_role
from fairnad_tools.data import DatasetInfo, dataset_info
from fairnad_tools.spaces import SearchSpace, make_space
from fairnad_tools.train.executor import Executor, LocalExecutor
from graph.settings import FairNADSettings
from graph.store import RunStore
from graph.strategies import Strategy, get_strategy
from graph.trace import TraceWriter
from knowledge.ideas import Idea, IdeaBank

ProgressFn = Callable[[dict[str, Any]], None]


@dataclass
class Roles:
    """The configured role instances: one per part, and the gates in order."""

    extractor: ExtractorRole
    mutation: MutationRole
    feedback: FeedbackRole
    gates: dict[str, GateRole]


def role_classes(settings: FairNADSettings) -> dict[str, type[Role]]:
    """The configured role classes by LLM key: ``extractor``, ``mutation``, ``feedback``, then each gate's name.

    Raises :class:`RoleRegistryError` naming the setting for an unknown role, a role that
    cannot play its part (``roles.mutation = "feedback"``) or a gate listed twice.
    """
    from agents.registry import discover

    discover()  # a broken plugin is reported as itself, not as a bad value of the first setting read
    classes: dict[str, type[Role]] = {}
    for part in ("extractor", "mutation", "feedback"):
        name = getattr(settings.roles, part)
        try:
            classes[part] = get_role(name, part)
        except RoleRegistryError as exc:
            raise RoleRegistryError(f"bad value for 'roles.{part}': {exc}") from None
    for name in settings.roles.gates:
        try:
            cls = get_role(name, "gate")
        except RoleRegistryError as exc:
            raise RoleRegistryError(f"bad value in 'roles.gates': {exc}") from None
        if name in classes:
            raise RoleRegistryError(f"role {name!r} appears twice in [roles] gates; list each gate once")
        classes[name] = cls
    return classes


def llm_roles(settings: FairNADSettings) -> dict[str, str]:
    """How each configured role runs: ``"llm"`` (it has an LLM mode and an LLM is configured),
    ``"builtin"`` (no LLM configured), ``"builtin: no LLM mode"`` (an LLM is configured but the
    role has no LLM mode yet) or ``"builtin: <why>"`` (an LLM is configured but a setting switches
    the role's LLM mode off, :meth:`agents.base.Role.llm_off`: ``"builtin: LLM review off:
    verify.llm_review"``), keyed like :func:`role_classes`."""
    configured = settings.llm.provider != "none"
    result = {}
    for key, cls in role_classes(settings).items():
        if not configured:
            result[key] = "builtin"
        elif not cls.llm_mode:
            result[key] = "builtin: no LLM mode"
        elif cls.wants_llm(settings):
            result[key] = "llm"
        else:
            result[key] = f"builtin: {cls.llm_off(settings) or 'LLM mode off'}"
    return result


def describe_roles(settings: FairNADSettings) -> list[str]:
    """One line per role for the run header: its name, and the LLM (model, endpoint) or built-in (and why)."""
    lines = []
    classes = role_classes(settings)
    for key, how in llm_roles(settings).items():
        name = classes[key].name
        label = key if key == name else f"{key} ({name})"
        if how == "llm":
            llm = settings.llm.for_role(key)
            where = "recording " + str(llm.replay_dir) if llm.provider == "replay" else (llm.base_url or "OpenAI")
            lines.append(f"{label}: LLM {llm.model} at {where}")
        elif how == "builtin":
            lines.append(f"{label}: built-in (no LLM configured)")
        elif how == "builtin: no LLM mode":
            lines.append(f"{label}: built-in (this role has no LLM mode; the configured LLM is not used by it)")
        else:
            lines.append(f"{label}: built-in ({how.removeprefix('builtin: ')})")
    return lines


def make_roles(settings: FairNADSettings, space: SearchSpace | None = None, ledger: Ledger | None = None) -> Roles:
    """Instantiate the configured roles (``[roles]``), each checked against its part's base class.

    A role that wants the LLM (:meth:`agents.base.Role.wants_llm`: an LLM mode not switched off
    by a setting) gets its own chat client (``[llm.roles.<key>]`` overrides) sharing ``ledger``
    (the run's LLM accounting); without a ledger (start-up checks) no client is made.
    Raises :class:`RoleRegistryError` as :func:`role_classes`.
    """
    instances: dict[str, Any] = {}
    for key, cls in role_classes(settings).items():
        client = None
        if ledger is not None and cls.wants_llm(settings):
            client = make_client(settings.llm.for_role(key), key, ledger)
        context = RoleContext(settings=settings, llm=client, seed=settings.search.seed, space=space)
        instances[key] = cls(context)
    gates = {name: instances[name] for name in settings.roles.gates}
    return Roles(instances["extractor"], instances["mutation"], instances["feedback"], gates)


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


def make_ledger(settings: FairNADSettings, store: RunStore) -> Ledger | None:
    """The run's LLM accounting (``None`` with no LLM): budgets, totals and recorded answers.

    The run's own stored exchanges are loaded, so a resumed run answers a call it already made
    from the record instead of repeating it, and its budgets count what was spent before; a
    replay (``llm.provider = "replay"``) also answers from the recorded run in ``llm.replay_dir``.
    """
    if settings.llm.provider == "none":
        return None
    own = Recordings.from_run_dir(store.root)
    recordings = own
    if settings.llm.provider == "replay" and settings.llm.replay_dir is not None:
        recordings = own.combined(Recordings.from_run_dir(settings.llm.replay_dir))
    ledger = Ledger(settings.llm, recordings)
    ledger.add_existing(own.exchanges())
    ledger.kept = {exchange.key for exchange in own.exchanges()}
    return ledger


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
    ledger: Ledger | None = None
    _bank: IdeaBank | None = None

    @classmethod
    def create(cls, settings: FairNADSettings, store: RunStore, progress: ProgressFn | None = None) -> RunContext:
        """The context of a run process: roles (with the configured chat model), space and strategy."""
        space, strategy = make_plugins(settings)
        ledger = make_ledger(settings, store)
        roles = make_roles(settings, space, ledger)
        return cls(
            settings, store, TraceWriter(store.trace_file), roles, space, strategy, progress=progress, ledger=ledger
        )

    @staticmethod
    def validate_roles(settings: FairNADSettings) -> None:
        """Fail before a run starts when a configured role, space or strategy is unknown or cannot
        play its part."""
        space, _ = make_plugins(settings)
        make_roles(settings, space)

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

    def idea(self, idea_id: str | None) -> Idea | None:
        """The bank's idea ``idea_id``; ``None`` for no id or an id the bank does not hold."""
        if not idea_id:
            return None
        try:
            return self.bank().get(idea_id)
        except KeyError:
            return None

    def report(self, **fields: Any) -> None:
        """Pass progress fields to the command line's progress display, if any."""
        if self.progress is not None:
            self.progress(fields)


def keep_llm_calls(ctx: RunContext, candidate: str | None = None) -> list[tuple[Any, Path]]:
    """Write the LLM exchanges made since the last call (``candidate``'s only, when given), one
    file each; returns them with their files, for :func:`trace_llm_calls`.

    The files are the record of tokens and cost: ``summary.json`` sums them per candidate and
    per role (:meth:`graph.store.RunStore.llm_usage`), so a crash never loses or double-counts
    a call. An exchange answered from this run's own recording (a resumed run repeating a
    finished call) is already on disk, so it is not written again.
    """
    if ctx.ledger is None:
        return []
    kept = []
    for exchange in ctx.ledger.drain(candidate):
        if exchange.key in ctx.ledger.kept:  # answered from this run's own file: already kept and counted
            continue
        ctx.ledger.kept.add(exchange.key)
        kept.append((exchange, ctx.store.write_exchange(exchange.candidate, exchange.role, exchange.to_json())))
    return kept


def trace_llm_calls(ctx: RunContext, kept: list[tuple[Any, Path]]) -> int:
    """One ``llm_call`` trace event per kept exchange, in order; returns their tokens (in plus out)."""
    tokens = 0
    for exchange, path in kept:
        tokens += exchange.tokens_in + exchange.tokens_out
        ctx.tracer.emit(
            "llm_call",
            role=exchange.role,
            candidate=exchange.candidate,
            purpose=exchange.purpose,
            method=exchange.method,
            tokens_in=exchange.tokens_in,
            tokens_out=exchange.tokens_out,
            tokens_estimated=exchange.tokens_estimated or None,
            replayed=exchange.replayed or None,
            error=None if exchange.error_kind == "unsupported" else exchange.error,
            note=exchange.error if exchange.error_kind == "unsupported" else None,
            file=path.name,
            seconds=exchange.latency_s,
        )
    return tokens


def record_llm_calls(ctx: RunContext, candidate: str | None = None) -> int:
    """Keep and trace the LLM exchanges made since the last call (:func:`keep_llm_calls`, then
    :func:`trace_llm_calls`); returns their tokens (in plus out), for the role step's ``tokens``."""
    return trace_llm_calls(ctx, keep_llm_calls(ctx, candidate))


class Timer:
    """``with Timer() as t: ...; t.seconds``"""

    def __enter__(self) -> Timer:
        self.start = time.monotonic()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = round(time.monotonic() - self.start, 3)
