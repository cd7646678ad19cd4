"""The ``open`` space: FairNAD's typed architecture spec over all 55 template sub-categories.

Architectures are :class:`~fairnad_tools.arch.ArchSpec` objects (stem, stages of blocks, head);
the edits are the typed transformations of :mod:`fairnad_tools.arch`, ideas are realised
through ``realisations.yaml``, and every candidate is rendered to readable PyTorch source.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from typing import Any

from fairnad_tools.arch import SEEDS, ArchSpec, EditRefused, apply_idea, downscale, realisable, render, scale_up, seed
from fairnad_tools.arch.edits import GENERIC, change_hyperparameter, swap_module
from fairnad_tools.spaces import Budget, SearchSpace, register_space


@register_space("open")
class OpenSpace(SearchSpace):
    """Stem, stages and head with a block per stage; ideas edit block, stage or network fields."""

    summary = "typed specs over the 55 template sub-categories, rendered to PyTorch source"
    edit_kinds = tuple(GENERIC)

    def seeds(self) -> list[str]:
        return list(SEEDS)

    def seed(self, name: str, input_shape: tuple[int, int, int]) -> ArchSpec:
        return seed(name, input_shape)

    def load(self, data: dict[str, Any]) -> ArchSpec:
        return ArchSpec.model_validate(data)

    def dump(self, arch: ArchSpec) -> dict[str, Any]:
        return arch.model_dump(mode="json")

    def apply_idea(self, arch: ArchSpec, sub_category: str, rng: random.Random) -> tuple[ArchSpec, str]:
        new, step = apply_idea(arch, sub_category, rng)
        return new, str(step)

    def random_edit(
        self, arch: ArchSpec, rng: random.Random, kinds: Collection[str] | None = None
    ) -> tuple[ArchSpec, str]:
        order = list(self.edit_kinds if kinds is None else kinds)
        unknown = [k for k in order if k not in GENERIC]
        if unknown:
            raise ValueError(f"unknown edit kinds {unknown}; the open space has {', '.join(self.edit_kinds)}")
        rng.shuffle(order)
        reasons = []
        for kind in order:
            try:
                new, step = GENERIC[kind](arch, rng)
                return new, str(step)
            except EditRefused as exc:
                reasons.append(str(exc))
        raise EditRefused("; ".join(reasons) or "no edit kind given")

    def tune(self, arch: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
        try:
            new, step = change_hyperparameter(arch, rng)
        except EditRefused:  # nothing numeric to tune: swap a module choice instead
            new, step = swap_module(arch, rng)
        return new, str(step)

    def downscale(self, arch: ArchSpec, budget: Budget) -> tuple[ArchSpec, str]:
        new, step = downscale(arch, budget)
        return new, str(step)

    def scale_up(self, arch: ArchSpec, budget: Budget, rng: random.Random) -> tuple[ArchSpec, str]:
        new, step = scale_up(arch, budget, rng)
        return new, str(step)

    def render(self, arch: ArchSpec) -> str:
        return render(arch)

    def structure_hash(self, arch: ArchSpec) -> str:
        return arch.structure_hash()

    def realisable_sub_categories(self) -> set[str]:
        return realisable()
