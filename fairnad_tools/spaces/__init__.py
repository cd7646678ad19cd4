"""Search spaces: what a candidate architecture is and which edits make new ones (``search.space``).

A space is a :class:`SearchSpace` subclass registered by name with :func:`register_space`; the
mutation role and the strategies use it only through this interface, so a new space (say
NAS-Bench-201's cell space) is one new module in this package, or a module in your own
package named by the ``fairnad.spaces`` entry-point group.

Architectures are the space's own objects (``ArchSpec`` for the ``open`` space); the graph
stores them as JSON (:meth:`SearchSpace.dump` / :meth:`SearchSpace.load`) in ``spec.json``.
Every edit takes a :class:`random.Random` so a run is reproducible from its seed, and returns
the new architecture with a readable description of the edit; an edit that cannot apply
raises :class:`EditRefused` with the reason.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from typing import Any, ClassVar, TypeVar

from fairnad_tools.arch import EditRefused
from fairnad_tools.plugins import PluginError, Registry

Budget = tuple[int, int]
"""(maximum parameters, maximum MACs per image)."""


class SpaceError(PluginError):
    """An unknown ``search.space``, or a space plugin that is broken."""


class SearchSpace(ABC):
    """The operations a strategy and the mutation role need from a space.

    Subclasses set ``summary`` and ``edit_kinds`` and implement the abstract methods;
    :meth:`lookup` is for tabular benchmarks (``None``: the candidate must be trained).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    edit_kinds: ClassVar[tuple[str, ...]] = ()
    """The kinds :meth:`random_edit` draws from (e.g. ``hyperparameter``, ``swap``, ``insert``)."""

    @abstractmethod
    def seeds(self) -> list[str]:
        """Names accepted by :meth:`seed` (``search.seed_model``)."""

    @abstractmethod
    def seed(self, name: str, input_shape: tuple[int, int, int]) -> Any:
        """The seed architecture ``name`` for images of ``input_shape`` (channels, height, width).

        Raises ``ValueError`` naming the valid seeds for an unknown name.
        """

    @abstractmethod
    def load(self, data: dict[str, Any]) -> Any:
        """An architecture from its JSON form (``spec.json``); raises ``ValueError`` when invalid."""

    @abstractmethod
    def dump(self, arch: Any) -> dict[str, Any]:
        """The JSON form of ``arch`` (``load(dump(a)) == a``)."""

    @abstractmethod
    def apply_idea(self, arch: Any, sub_category: str, rng: random.Random) -> tuple[Any, str]:
        """Realise a design idea of template sub-category ``sub_category`` on ``arch``.

        Raises :class:`EditRefused` when the sub-category cannot be realised here.
        """

    @abstractmethod
    def random_edit(self, arch: Any, rng: random.Random, kinds: Collection[str] | None = None) -> tuple[Any, str]:
        """One random edit of a kind among ``kinds`` (default: all :attr:`edit_kinds`)."""

    @abstractmethod
    def tune(self, arch: Any, rng: random.Random) -> tuple[Any, str]:
        """An edit that keeps depth and width (a hyperparameter or module choice)."""

    @abstractmethod
    def downscale(self, arch: Any, budget: Budget) -> tuple[Any, str]:
        """``arch`` shrunk until it fits ``budget`` (unchanged when it fits already).

        Raises :class:`EditRefused` when no smaller architecture fits.
        """

    @abstractmethod
    def scale_up(self, arch: Any, budget: Budget, rng: random.Random) -> tuple[Any, str]:
        """``arch`` made wider or deeper, staying within ``budget``."""

    @abstractmethod
    def render(self, arch: Any) -> str:
        """The candidate's ``model.py`` source: defines ``build_model(num_classes) -> torch.nn.Module``."""

    @abstractmethod
    def structure_hash(self, arch: Any) -> str:
        """A hash equal for equal architectures (names and cosmetic fields ignored)."""

    def realisable_sub_categories(self) -> set[str] | None:
        """Template sub-categories :meth:`apply_idea` can realise; ``None`` means any."""
        return None

    def lookup(self, arch: Any, dataset: str) -> dict[str, Any] | None:
        """Tabular benchmarks: the recorded metrics of ``arch`` on ``dataset``; ``None`` to train it."""
        return None


S = TypeVar("S", bound=type[SearchSpace])
SPACES: Registry[type[SearchSpace]] = Registry(
    "search space", SearchSpace, package="fairnad_tools.spaces", group="fairnad.spaces", error=SpaceError
)


def register_space(name: str) -> Callable[[S], S]:
    """Class decorator: register a :class:`SearchSpace` subclass as ``search.space = name``."""
    return SPACES.register(name)


def get_space(name: str) -> type[SearchSpace]:
    """The space class registered as ``name``; raises :class:`SpaceError` listing the registered ones."""
    return SPACES.get(name)


def make_space(name: str) -> SearchSpace:
    """A new instance of the space registered as ``name``."""
    return get_space(name)()


__all__ = ["SPACES", "Budget", "EditRefused", "SearchSpace", "SpaceError", "get_space", "make_space", "register_space"]
