"""Executors run independent jobs (trainings) of a round.

Lifecycle: an executor is created once per run process; :meth:`Executor.map` is called
once per round with that round's jobs and yields ``(job, result)`` pairs as they finish
(in any order); :meth:`Executor.close` is called when the run ends. The local executor
runs jobs one after another (each training already runs in its own child process);
a process pool or Ray arrive as further executors.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

J = TypeVar("J")
R = TypeVar("R")


class Executor(ABC):
    """Runs the independent jobs of a round; subclasses implement :meth:`map`.

    ``name`` is the key under which :data:`EXECUTORS` (and :func:`make_executor`) know it.
    """

    name: str = ""

    @abstractmethod
    def map(self, fn: Callable[[J], R], jobs: Iterable[J]) -> Iterator[tuple[J, R]]:
        """Run ``fn`` on every job; yield each job with its result as soon as it is done."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release workers; called once when the run ends."""


class LocalExecutor(Executor):
    """One job at a time, in order, in this process."""

    name = "local"

    def map(self, fn: Callable[[J], R], jobs: Iterable[J]) -> Iterator[tuple[J, R]]:
        for job in jobs:
            yield job, fn(job)


EXECUTORS: dict[str, type[Executor]] = {"local": LocalExecutor}


def make_executor(name: str) -> Executor:
    """A new executor of the kind ``name``; raises ``ValueError`` listing the valid names."""
    try:
        return EXECUTORS[name]()
    except KeyError:
        raise ValueError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}") from None
