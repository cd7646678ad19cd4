"""The built-in architecture space: typed specs, the block library, rendering and transformations.

* :mod:`~fairnad_tools.arch.spec` — the pydantic spec (stem, stages, blocks, head), validated.
* :mod:`~fairnad_tools.arch.library` — the block library: every module a built-in model uses.
* :mod:`~fairnad_tools.arch.wiring` — string-keyed factories and the wiring: ``build`` and ``render``.
* :mod:`~fairnad_tools.arch.seeds` — ResNet-32, MobileNetV2-like and ConvNeXt-like seeds.
* :mod:`~fairnad_tools.arch.transforms` — typed transformations, ``apply_idea`` through
  ``realisations.yaml`` (sub-category -> spec edits), ``downscale`` and ``scale_up``.
"""

from fairnad_tools.arch.seeds import SEEDS, seed
from fairnad_tools.arch.spec import ArchSpec, BlockSpec, HeadSpec, StageSpec, StemSpec
from fairnad_tools.arch.transforms import EditRefused, Transformation, apply_idea, downscale, realisable, scale_up
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
