"""Targeting: where an edit lands (one block, one stage, all stages) and stage-size helpers."""

from __future__ import annotations

import random
from typing import Any

from fairnad_tools.arch.repair import repair_block, repair_spec, repair_stage
from fairnad_tools.arch.spec import ArchSpec, BlockOverride, BlockSpec, StageSpec

__all__ = ["round8", "scale_stage", "set_block", "set_block_fields", "stage_choices", "stage_with"]


def stage_choices(spec: ArchSpec, prefer: str | None) -> list[int]:
    """Indexes of the stages an edit may target: all, or the later half for ``prefer="late"``."""
    indexes = list(range(len(spec.stages)))
    if prefer == "late":
        return indexes[len(indexes) // 2 :]
    return indexes


def set_block(block: BlockSpec, fields: dict[str, Any]) -> BlockSpec:
    """``block`` with ``fields`` set, repaired (:func:`repair_block`); a new kind gets its own expansion."""
    data = {**block.model_dump(), **fields}
    if data["kind"] != block.kind and "expansion" not in fields:
        data["expansion"] = None  # another kind, its own default ratio (a bottleneck's 0.25 is no MLP's)
    return repair_block(data, set(fields))


def stage_with(stage: StageSpec, fields: dict[str, Any], index: int | None) -> StageSpec:
    """``fields`` set on the whole stage (index None) or on one block (an override)."""
    data = stage.model_dump()
    if index is None:
        data["block"] = set_block(stage.block, fields).model_dump()
        data["overrides"] = [
            {"index": o.index, "block": set_block(o.block, fields).model_dump()} for o in stage.overrides
        ]
    else:
        new = set_block(stage.block_at(index), fields)
        overrides = [o for o in stage.overrides if o.index != index]
        if new != stage.block:
            overrides.append(BlockOverride(index=index, block=new))
        data["overrides"] = [o.model_dump() for o in sorted(overrides, key=lambda o: o.index)]
    return repair_stage(data)


def set_block_fields(
    spec: ArchSpec, fields: dict[str, Any], rng: random.Random, *, prefer: str | None = None, scope: str | None = None
) -> tuple[ArchSpec, str]:
    """Set block fields on one block, one stage or all stages (``scope``: block, stage, all; drawn when None).

    Returns the repaired spec and where the fields landed (``stage 1``, ``stage 0 block 2``,
    ``all stages``); raises :class:`~fairnad_tools.arch.transformation.EditRefused`.
    """
    choices = stage_choices(spec, prefer)
    scope = scope or rng.choices(["stage", "all", "block"], weights=[0.5, 0.2, 0.3])[0]
    if scope == "all":
        stages = list(spec.stages)
        for i in choices:
            stages[i] = stage_with(stages[i], fields, None)
        where = "all stages" if len(choices) == len(spec.stages) else f"stages {choices[0]}-{choices[-1]}"
        return repair_spec({**spec.model_dump(), "stages": [s.model_dump() for s in stages]}), where
    candidates = []
    for i in choices:
        stage = spec.stages[i]
        if scope == "block":
            j = rng.randrange(stage.depth)
            new, where = stage_with(stage, fields, j), f"stage {i} block {j}"
        else:
            new, where = stage_with(stage, fields, None), f"stage {i}"
        candidates.append((new != stage, i, new, where))
    changed = [c for c in candidates if c[0]] or candidates
    _, i, new, where = rng.choice(changed)
    return repair_spec(spec.with_stage(i, new).model_dump()), where


def round8(value: float) -> int:
    """``value`` rounded to a multiple of 8, at least 8 (channel widths)."""
    return max(8, int(round(value / 8)) * 8)


def scale_stage(stage: StageSpec, *, depth: int | None = None, width: int | None = None) -> StageSpec:
    """``stage`` with a new depth (clamped to 1..24) and/or width (clamped to 8..1024), repaired."""
    data = stage.model_dump()
    if depth is not None:
        data["depth"] = max(1, min(24, depth))
    if width is not None:
        data["width"] = max(8, min(1024, width))
    return repair_stage(data)
