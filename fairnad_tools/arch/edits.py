"""Generic edits: change a hyperparameter, swap, insert or delete a module (:data:`GENERIC`).

The swap tables are the spec's vocabularies (:func:`~fairnad_tools.arch.spec.choices` of its
``Literal`` types), so a new activation, norm, mixer, ... is spelled once, in ``spec.py``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from fairnad_tools.arch.repair import repair_spec, repair_stage
from fairnad_tools.arch.spec import (
    MIXERS_BY_KIND,
    Activation,
    ArchSpec,
    AttentionKind,
    BlockSpec,
    Downsample,
    Fusion,
    Mixer,
    Norm,
    Recalibration,
    choices,
    rebuild,
)
from fairnad_tools.arch.target import stage_with
from fairnad_tools.arch.transformation import EditRefused, Transformation

__all__ = [
    "GENERIC",
    "HYPERPARAMETERS",
    "SWAPS",
    "SWAP_DOWNSAMPLES",
    "change_hyperparameter",
    "delete_module",
    "insert_module",
    "swap_module",
]


HYPERPARAMETERS: dict[str, tuple[Any, ...]] = {  # field -> values change_hyperparameter chooses among
    "kernel_size": (3, 5, 7),
    "expansion": (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0),
    "heads": (1, 2, 4, 8),
    "window": (2, 4, 8),
    "groups": (2, 4, 8, 16),
    "layer_scale": (0.01, 0.1, 0.5),
    "drop_path": (0.05, 0.1, 0.2),
}


def _relevant(block: BlockSpec, name: str) -> bool:
    if name == "kernel_size":
        return block.mixer in ("conv", "depthwise", "large_kernel", "grouped") and block.branches in (
            "single",
            "split_transform_merge",
        )
    if name == "expansion":
        return block.kind != "basic"
    if name in ("heads", "window"):
        return (block.mixer == "attention" or block.kind == "transformer") and (
            name == "heads" or block.attention == "windowed"
        )
    if name == "groups":
        return block.mixer == "grouped" or block.branches == "split_transform_merge"
    if name == "layer_scale":
        return block.layer_scale is not None
    if name == "drop_path":
        return block.drop_path > 0
    return False


def change_hyperparameter(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, Transformation]:
    """Change a numeric choice that keeps depth and width: kernel size, expansion, heads, groups, ..."""
    options = [(i, name) for i, s in enumerate(spec.stages) for name in HYPERPARAMETERS if _relevant(s.block, name)]
    if spec.head.dropout > 0:
        options.append((-1, "dropout"))
    if not options:
        raise EditRefused("no tunable hyperparameter in this spec")
    i, name = rng.choice(options)
    if i == -1:
        new_value = rng.choice([v for v in (0.1, 0.2, 0.3, 0.5) if v != spec.head.dropout])
        return rebuild(spec, head={**spec.head.model_dump(), "dropout": new_value}), Transformation(
            "hyperparameter", "head", f"dropout {spec.head.dropout:g}->{new_value:g}"
        )
    block = spec.stages[i].block
    old = block.hidden_ratio if name == "expansion" else getattr(block, name)
    values = [v for v in HYPERPARAMETERS[name] if v != old]
    if name == "kernel_size" and block.mixer == "large_kernel":
        values = [v for v in (7, 9) if v != old]
    if name == "expansion" and block.kind == "bottleneck":
        values = [v for v in values if v <= 1.0]
    new_value = rng.choice(values)
    stage = stage_with(spec.stages[i], {name: new_value}, None)
    return repair_spec(spec.with_stage(i, stage).model_dump()), Transformation(
        "hyperparameter", f"stage {i}", f"{name} {old}->{new_value}"
    )


SWAPS: dict[str, tuple[str, ...]] = {
    "activation": choices(Activation),
    "norm": choices(Norm),
    "mixer": tuple(m for m in choices(Mixer) if m != "attention"),  # attention comes with the kind
    "attention": choices(AttentionKind),
    "recalibration": tuple(r for r in choices(Recalibration) if r != "none"),  # "none" is a delete
    "fusion": choices(Fusion),
}
"""Block field -> the values :func:`swap_module` (and :func:`insert_module`) choose among."""
SWAP_DOWNSAMPLES: tuple[str, ...] = tuple(d for d in choices(Downsample) if d not in ("block", "none"))
"""The downsampling modules a swap chooses among (striding in the block and none are no modules)."""


def swap_module(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, Transformation]:
    """Replace one module choice by another of its kind (activation, norm, mixer, attention, ...)."""
    options = []
    for i, stage in enumerate(spec.stages):
        b = stage.block
        options += [(i, "activation"), (i, "norm")]
        if b.branches == "single" and b.kind not in ("transformer",):
            options.append((i, "mixer"))
        if b.mixer == "attention" or b.kind == "transformer":
            options.append((i, "attention"))
        if b.recalibration != "none":
            options.append((i, "recalibration"))
        if b.branches == "multi_kernel":
            options.append((i, "fusion"))
        if stage.downsample in SWAP_DOWNSAMPLES:
            options.append((i, "downsample"))
    i, field = rng.choice(options)
    stage = spec.stages[i]
    if field == "downsample":
        new_value = rng.choice([d for d in SWAP_DOWNSAMPLES if d != stage.downsample])
        new_stage = repair_stage({**stage.model_dump(), "downsample": new_value})
        return spec.with_stage(i, new_stage), Transformation(
            "swap", f"stage {i}", f"downsample {stage.downsample}->{new_value}"
        )
    old = getattr(stage.block, field)
    allowed = SWAPS[field]
    if field == "mixer":
        allowed = tuple(m for m in allowed if m in MIXERS_BY_KIND[stage.block.kind])
    new_value = rng.choice([v for v in allowed if v != old] or [old])
    new_stage = stage_with(stage, {field: new_value}, None)
    return repair_spec(spec.with_stage(i, new_stage).model_dump()), Transformation(
        "swap", f"stage {i}", f"{field} {old}->{new_value}"
    )


def insert_module(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, Transformation]:
    """Add a module that is absent: recalibration, layer scale, drop path, positional encoding, dropout."""
    options: list[tuple[str, Any]] = []
    for i, stage in enumerate(spec.stages):
        b = stage.block
        if b.recalibration == "none":
            options.append((f"stage {i}", {"recalibration": rng.choice(SWAPS["recalibration"])}))
        if b.layer_scale is None:
            options.append((f"stage {i}", {"layer_scale": 0.1}))
        if b.drop_path == 0:
            options.append((f"stage {i}", {"drop_path": 0.1}))
    if not spec.stem.positional_encoding:
        options.append(("stem", {"positional_encoding": True}))
    if spec.head.dropout == 0:
        options.append(("head", {"dropout": 0.2}))
    if not options:
        raise EditRefused("every optional module is already present")
    where, fields = rng.choice(options)
    return _apply_fields(spec, where, fields), Transformation(
        "insert", where, ", ".join(f"{k}={v}" for k, v in fields.items())
    )


def delete_module(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, Transformation]:
    """Remove an optional module: recalibration, layer scale, drop path, positional encoding, dropout."""
    options: list[tuple[str, Any]] = []
    for i, stage in enumerate(spec.stages):
        b = stage.block
        if b.recalibration != "none":
            options.append((f"stage {i}", {"recalibration": "none"}))
        if b.layer_scale is not None:
            options.append((f"stage {i}", {"layer_scale": None}))
        if b.drop_path > 0:
            options.append((f"stage {i}", {"drop_path": 0.0}))
        if b.branches != "single":
            options.append((f"stage {i}", {"branches": "single", "fusion": "add"}))
    if spec.stem.positional_encoding:
        options.append(("stem", {"positional_encoding": False}))
    if spec.head.dropout > 0:
        options.append(("head", {"dropout": 0.0}))
    if not options:
        raise EditRefused("no optional module to remove")
    where, fields = rng.choice(options)
    return _apply_fields(spec, where, fields), Transformation(
        "delete", where, ", ".join(f"{k}={v}" for k, v in fields.items())
    )


def _apply_fields(spec: ArchSpec, where: str, fields: dict[str, Any]) -> ArchSpec:
    if where == "stem":
        return repair_spec({**spec.model_dump(), "stem": {**spec.stem.model_dump(), **fields}})
    if where == "head":
        return repair_spec({**spec.model_dump(), "head": {**spec.head.model_dump(), **fields}})
    i = int(where.split()[1])
    return repair_spec(spec.with_stage(i, stage_with(spec.stages[i], fields, None)).model_dump())


GENERIC: dict[str, Callable[..., tuple[ArchSpec, Transformation]]] = {  # name -> edit(spec, rng)
    "hyperparameter": change_hyperparameter,
    "swap": swap_module,
    "insert": insert_module,
    "delete": delete_module,
}
