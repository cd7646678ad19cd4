"""Search strategies: which candidates a round makes, from which parents, with which ideas.

A strategy is a :class:`Strategy` subclass registered by name with :func:`register_strategy`
(``search.strategy``); the ``plan_round`` node calls it once per round. A new strategy (a
baseline such as random search or regularized evolution) is one module in this package,
or a module in your own package named by the ``fairnad.strategies`` entry-point group. It
plans over any search space: it chooses parents, mutation types and ideas, and the mutation
role turns each plan into a candidate with the space's edits.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from agents.records import MUTATION_TYPES, FeedbackStats, MutationType
from fairnad_tools.plugins import PluginError, Registry


class StrategyError(PluginError):
    """An unknown ``search.strategy``, a broken strategy plugin, or a plan the strategy may not make."""


@dataclass(frozen=True)
class PlannedCandidate:
    """One candidate of a round: how to make it (``mutation_type``), from which trained parent,
    and for idea-driven types, which idea (id) of which template sub-category."""

    mutation_type: MutationType
    parent: str
    idea: str | None = None
    sub_category: str | None = None


@dataclass(frozen=True)
class RoundView:
    """What a strategy sees when it plans a round (read only).

    ``trained``: the records of trained candidates (``id``, ``params``, ``flops`` in MACs per
    image, ``val_acc`` in [0, 1], ``idea``, ``parent``, ...), at least one. ``ideas``: idea id
    -> sub-category slug for the whole bank. ``realisable``: the sub-categories the mutation
    role can realise (``None``: any). ``max_params`` / ``max_flops``: the budgets.
    """

    n: int
    round: int
    trained: Sequence[Mapping[str, Any]]
    ideas: Mapping[str, str]
    stats: FeedbackStats
    rng: random.Random
    realisable: set[str] | None
    max_params: int
    max_flops: int
    extra: Mapping[str, Any] = field(default_factory=dict)


class Strategy(ABC):
    """Plans the candidates of each round.

    ``mutation_types`` declares every type :meth:`plan` may return; a plan with another type
    is an error (:class:`StrategyError`), so a strategy cannot silently ask the mutation role
    for something it does not handle. The strategy is constructed once per run process with
    the ``[search]`` settings.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    mutation_types: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, settings: Any) -> None:
        self.settings = settings  # graph.settings.SearchSettings

    def round_size(self, budget: int, counted: int) -> int:
        """How many candidates the next round plans (at least 1, at most ``budget - counted``)."""
        return max(1, budget - counted)

    @abstractmethod
    def plan(self, view: RoundView) -> list[PlannedCandidate]:
        """``view.n`` planned candidates (fewer when no more can be planned, never more)."""

    def checked_plan(self, view: RoundView) -> list[PlannedCandidate]:
        """:meth:`plan`, with each mutation type checked against :attr:`mutation_types`.

        Raises :class:`StrategyError` naming the strategy and the type.
        """
        plan = self.plan(view)
        if not isinstance(plan, list) or not all(isinstance(item, PlannedCandidate) for item in plan):
            raise StrategyError(f"strategy {self.name!r} must return a list of PlannedCandidate, not {plan!r:.200}")
        parents = {record["id"] for record in view.trained}
        for item in plan:
            if item.mutation_type not in MUTATION_TYPES:
                raise StrategyError(
                    f"strategy {self.name!r} planned {item.mutation_type!r}, which is not a mutation type; "
                    f"known types: {', '.join(sorted(MUTATION_TYPES))}"
                )
            if item.mutation_type not in self.mutation_types:
                raise StrategyError(
                    f"strategy {self.name!r} planned mutation type {item.mutation_type!r}, which it does not "
                    f"declare; declared: {', '.join(sorted(self.mutation_types))}"
                )
            if item.parent not in parents:
                raise StrategyError(
                    f"strategy {self.name!r} planned parent {item.parent!r}, which is not a trained candidate "
                    f"(trained: {', '.join(sorted(parents)[:10])}{', ...' if len(parents) > 10 else ''})"
                )
        if len(plan) > view.n:
            raise StrategyError(f"strategy {self.name!r} planned {len(plan)} candidates for a round of {view.n}")
        return plan


T = TypeVar("T", bound=type[Strategy])
STRATEGIES: Registry[type[Strategy]] = Registry(
    "search strategy", Strategy, package="graph.strategies", group="fairnad.strategies", error=StrategyError
)


def register_strategy(name: str) -> Callable[[T], T]:
    """Class decorator: register a :class:`Strategy` subclass as ``search.strategy = name``.

    Raises :class:`StrategyError` when ``mutation_types`` is empty or names a type that is not
    in :data:`agents.records.MutationType`.
    """

    def decorator(cls: T) -> T:
        declared = set(getattr(cls, "mutation_types", ()))
        unknown = sorted(declared - MUTATION_TYPES)
        if unknown or not declared:
            raise StrategyError(
                f"strategy {name!r} declares {unknown or 'no mutation types'}, which are not mutation types; "
                f"declare some of: {', '.join(sorted(MUTATION_TYPES))}"
            )
        return STRATEGIES.register(name)(cls)

    return decorator


def get_strategy(name: str) -> type[Strategy]:
    """The strategy class registered as ``name``; raises :class:`StrategyError` listing the registered ones."""
    return STRATEGIES.get(name)


__all__ = [
    "STRATEGIES",
    "PlannedCandidate",
    "RoundView",
    "Strategy",
    "StrategyError",
    "get_strategy",
    "register_strategy",
]
