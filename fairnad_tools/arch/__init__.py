"""The built-in architecture space: typed specs, the block library, rendering and transformations.

* :mod:`~fairnad_tools.arch.spec` — the pydantic spec (stem, stages, blocks, head), validated.
* :mod:`~fairnad_tools.arch.library` — the block library: every module a built-in model uses.
* :mod:`~fairnad_tools.arch.wiring` — string-keyed factories and the wiring: ``build`` and ``render``.
* :mod:`~fairnad_tools.arch.seeds` — ResNet-32, MobileNetV2-like and ConvNeXt-like seeds.
* :mod:`~fairnad_tools.arch.transformation` — :class:`Transformation` (what an edit did) and
  :class:`EditRefused`.
* :mod:`~fairnad_tools.arch.repair` — validating an edited spec, repairing fields the edit did not set.
* :mod:`~fairnad_tools.arch.target` — where an edit lands (block, stage, all stages).
* :mod:`~fairnad_tools.arch.realise` — ``apply_idea`` through ``realisations.yaml``
  (sub-category -> spec edits), ``realisable``, ``realised``.
* :mod:`~fairnad_tools.arch.edits` — the generic edits (``GENERIC``: hyperparameter, swap,
  insert, delete).
* :mod:`~fairnad_tools.arch.budget` — ``measure``, ``within``, ``scale``, ``downscale``, ``scale_up``.
"""

from fairnad_tools.arch.budget import downscale, scale_up
from fairnad_tools.arch.realise import apply_idea, realisable
from fairnad_tools.arch.seeds import SEEDS, seed
from fairnad_tools.arch.spec import ArchSpec, BlockSpec, HeadSpec, StageSpec, StemSpec
from fairnad_tools.arch.transformation import EditRefused, Transformation
from fairnad_tools.arch.wiring import build, render

__all__ = [
    "SEEDS",
    "ArchSpec",
    "BlockSpec",
    "EditRefused",
    "HeadSpec",
    "StageSpec",
    "StemSpec",
    "Transformation",
    "apply_idea",
    "build",
    "downscale",
    "realisable",
    "render",
    "scale_up",
    "seed",
]
