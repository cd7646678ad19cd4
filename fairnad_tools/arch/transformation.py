"""What every transformation of a spec returns or raises: :class:`Transformation`, :class:`EditRefused`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Budget", "EditRefused", "Transformation"]


class EditRefused(ValueError):
    """A transformation does not apply to this spec (the message says why); a ``ValueError``."""


@dataclass(frozen=True)
class Transformation:
    """What a transformation did, for ``summary.json`` and the trace: ``str()`` gives ``kind(where: detail)``.

    ``kind`` is one of idea, hyperparameter, swap, insert, delete, scale, downscale, scale_up,
    seed; ``where`` names the place (``stage 2``, ``stem``, ``network``); ``detail`` what changed.
    """

    kind: str  # idea, hyperparameter, swap, insert, delete, scale, downscale, scale_up, seed
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}({self.where}: {self.detail})"


Budget = tuple[int, int]
"""(most parameters, most multiply-accumulates per image)."""
