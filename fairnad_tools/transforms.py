"""Typed edits of an :class:`~fairnad_tools.spec.ArchSpec`: the built-in mutation vocabulary.

Every edit returns a new, validated spec and a short human-readable description, or
raises :class:`EditRefused` when it cannot apply (e.g. widening past the limit). The
table :data:`SUB_CATEGORY_EDITS` says which template sub-categories the built-in edits
realise; the architecture-space issue extends both.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from pydantic import ValidationError

from fairnad_tools.spec import ACTIVATIONS, KERNEL_SIZES, ArchSpec, StageSpec


class EditRefused(ValueError):
    """An edit does not apply to this spec (the reason says why)."""


Edit = Callable[[ArchSpec, random.Random], tuple[ArchSpec, str]]


def _replace_stage(spec: ArchSpec, index: int, **changes: object) -> ArchSpec:
    stages = list(spec.stages)
    stages[index] = stages[index].model_copy(update=changes)
    try:
        return ArchSpec.model_validate({**spec.model_dump(), "stages": [s.model_dump() for s in stages]})
    except ValidationError as exc:
        raise EditRefused(str(exc.errors()[0]["msg"])) from exc


def _round8(value: float) -> int:
    return max(8, int(round(value / 8.0)) * 8)


def widen(spec: ArchSpec, rng: random.Random, factor: float | None = None) -> tuple[ArchSpec, str]:
    """Widen one stage (x1.25-1.5, rounded to a multiple of 8) and keep later stages at least as wide."""
    index = rng.randrange(len(spec.stages))
    factor = factor or rng.choice((1.25, 1.5))
    old = spec.stages[index].width
    new = _round8(old * factor)
    if new <= old or new > 512:
        raise EditRefused(f"stage {index} width {old} cannot grow further")
    return _replace_stage(spec, index, width=new), f"widen(stage={index}, {old}->{new})"


def deepen(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
    """Add one or two blocks to a stage."""
    index = rng.randrange(len(spec.stages))
    old = spec.stages[index].depth
    new = old + rng.choice((1, 2))
    if new > 24:
        raise EditRefused(f"stage {index} already has {old} blocks")
    return _replace_stage(spec, index, depth=new), f"deepen(stage={index}, {old}->{new})"


def shallow(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
    """Remove one or two blocks from a stage (keeps at least one)."""
    candidates = [i for i, s in enumerate(spec.stages) if s.depth > 1]
    if not candidates:
        raise EditRefused("every stage has a single block")
    index = rng.choice(candidates)
    old = spec.stages[index].depth
    new = max(1, old - rng.choice((1, 2)))
    return _replace_stage(spec, index, depth=new), f"shallow(stage={index}, {old}->{new})"


def set_activation(spec: ArchSpec, rng: random.Random, name: str | None = None) -> tuple[ArchSpec, str]:
    """Swap the activation function of the whole network."""
    choices = [a for a in ACTIVATIONS if a != spec.activation]
    new = name or rng.choice(choices)
    if new == spec.activation:
        raise EditRefused(f"the activation is already {new}")
    return spec.model_copy(update={"activation": new}), f"activation({spec.activation}->{new})"


def set_kernel(spec: ArchSpec, rng: random.Random, size: int | None = None) -> tuple[ArchSpec, str]:
    """Change the kernel size of one stage's convolutions."""
    index = rng.randrange(len(spec.stages))
    old = spec.stages[index].kernel_size
    choices = [k for k in KERNEL_SIZES if k != old] if size is None else [size]
    new = rng.choice(choices)
    if new == old:
        raise EditRefused(f"stage {index} already uses kernel {old}")
    return _replace_stage(spec, index, kernel_size=new), f"kernel(stage={index}, {old}->{new})"


def add_se(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
    """Add squeeze-and-excitation to a stage that has none."""
    candidates = [i for i, s in enumerate(spec.stages) if not s.se]
    if not candidates:
        raise EditRefused("every stage already has squeeze-and-excitation")
    index = rng.choice(candidates)
    return _replace_stage(spec, index, se=True), f"add_se(stage={index})"


def remove_se(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
    candidates = [i for i, s in enumerate(spec.stages) if s.se]
    if not candidates:
        raise EditRefused("no stage has squeeze-and-excitation")
    index = rng.choice(candidates)
    return _replace_stage(spec, index, se=False), f"remove_se(stage={index})"


def compound_scale(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
    """Grow depth and width together by a small factor, as compound scaling does."""
    stages = [
        StageSpec(**{**s.model_dump(), "depth": min(24, s.depth + 1), "width": _round8(s.width * 1.15)})
        for s in spec.stages
    ]
    new = ArchSpec.model_validate({**spec.model_dump(), "stages": [s.model_dump() for s in stages]})
    return new, "compound_scale(depth+1, width x1.15)"


def downscale(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
    """Shrink the largest contributor: the widest stage's width, or the deepest stage's depth."""
    widest = max(range(len(spec.stages)), key=lambda i: spec.stages[i].width)
    deepest = max(range(len(spec.stages)), key=lambda i: spec.stages[i].depth)
    if spec.stages[deepest].depth > 2 and rng.random() < 0.5:
        old = spec.stages[deepest].depth
        new = max(1, old - max(1, old // 4))
        return _replace_stage(spec, deepest, depth=new), f"downscale(stage={deepest}, depth {old}->{new})"
    old = spec.stages[widest].width
    new = _round8(old * 0.75)
    if new >= old:
        if spec.stages[deepest].depth > 1:
            return _replace_stage(spec, deepest, depth=spec.stages[deepest].depth - 1), (
                f"downscale(stage={deepest}, depth -1)"
            )
        raise EditRefused("the model is already at its smallest")
    return _replace_stage(spec, widest, width=new), f"downscale(stage={widest}, width {old}->{new})"


# What each edit changes; a refinement step avoids the family the idea just changed.
FAMILY: dict[Edit, str] = {
    widen: "width", deepen: "depth", shallow: "depth", compound_scale: "depth",
    set_activation: "activation", set_kernel: "kernel", add_se: "recalibration",
    remove_se: "recalibration", downscale: "size",
}  # fmt: skip

SCALE_UP_EDITS: tuple[Edit, ...] = (widen, deepen)
TUNE_EDITS: tuple[Edit, ...] = (set_kernel, set_activation, add_se, remove_se)


def _activation(name: str) -> Edit:
    def edit(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
        return set_activation(spec, rng, name)

    FAMILY[edit] = "activation"
    return edit


def _kernel(size: int) -> Edit:
    def edit(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
        return set_kernel(spec, rng, size)

    FAMILY[edit] = "kernel"
    return edit


# Template sub-category slug -> edits that realise it on this spec.
SUB_CATEGORY_EDITS: dict[str, tuple[Edit, ...]] = {
    "operation.spatial_mixing.standard_conv": (_kernel(3),),
    "operation.spatial_mixing.large_kernel_conv": (_kernel(5), _kernel(7)),
    "operation.activation.relu_family": (_activation("relu"),),
    "operation.activation.gelu": (_activation("gelu"),),
    "operation.activation.silu_swish": (_activation("silu"),),
    "operation.activation.hard_swish": (_activation("hardswish"),),
    "block.recalibration.squeeze_excitation": (add_se,),
    "network.stage_layout.depth_distribution": (deepen, shallow),
    "network.width_scaling.stage_widths": (widen,),
    "network.width_scaling.compound_scaling": (compound_scale,),
}


def apply_first(
    edits: tuple[Edit, ...], spec: ArchSpec, rng: random.Random, avoid: str | None = None
) -> tuple[ArchSpec, str, str]:
    """Try the edits (except family ``avoid``) in random order; the first that applies wins.

    Returns the new spec, the description and the family of the edit applied.
    """
    order = [edit for edit in edits if FAMILY[edit] != avoid]
    rng.shuffle(order)
    reasons = []
    for edit in order:
        try:
            new, how = edit(spec, rng)
            return new, how, FAMILY[edit]
        except EditRefused as exc:
            reasons.append(str(exc))
    raise EditRefused("; ".join(reasons) or "no edit applies")
