"""Typed transformations of architecture specs: the built-in mutation vocabulary.

Every transformation returns a new, validated spec and a :class:`Transformation` saying
what changed, or raises :class:`EditRefused` when it cannot apply. Fields an edit does not
set are repaired when the edit would make the spec invalid (a mixer the block kind cannot
hold changes the kind, a stage that can no longer stride in its first block gets a strided
convolution, a downsampling the resolution cannot afford is dropped), so edits apply in
almost every context. ``apply_idea`` realises a sub-category of the attribute template
through ``realisations.yaml``; ``downscale`` and ``scale_up`` fit a spec to the budgets.
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import ValidationError

from fairnad_tools.arch.spec import (
    MIXERS_BY_KIND,
    STRIDING_KINDS,
    ArchSpec,
    BlockOverride,
    BlockSpec,
    StageSpec,
    rebuild,
)


class EditRefused(ValueError):
    """A transformation does not apply to this spec (the message says why)."""


@dataclass(frozen=True)
class Transformation:
    """What a transformation did, for ``summary.json`` and the trace."""

    kind: str  # idea, hyperparameter, swap, insert, delete, scale, downscale, scale_up, seed
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}({self.where}: {self.detail})"


Budget = tuple[int, int]  # (max params, max multiply-accumulates)


# -- measurement (in-process: built-in specs are trusted library code) ---------------------------
def measure(spec: ArchSpec) -> tuple[int, int]:
    """(parameters, multiply-accumulates per image) of ``spec``.

    One sample image suffices: no block of the library routes or exits early on its input, so
    every image costs the same (the verifier, whose count is the one a run keeps, takes the
    largest over several, for code that is not the library's).
    """
    from fairnad_tools.arch.wiring import build
    from fairnad_tools.measure import count_macs, count_params

    model = build(spec)
    return count_params(model), count_macs(model, spec.input_shape, images=1)


def within(spec: ArchSpec, budget: Budget) -> bool:
    params, macs = measure(spec)
    return params <= budget[0] and macs <= budget[1]


# -- repair ------------------------------------------------------------------------------------
_KIND_FOR_MIXER = {
    "attention": ("metaformer", "transformer"),
    "pool": ("metaformer", "basic"),
    "large_kernel": ("convnext", "basic"),
}
_DEFAULT_MIXER = {"transformer": "attention", "metaformer": "pool", "convnext": "depthwise"}


def repair_block(data: dict[str, Any], fixed: set[str]) -> BlockSpec:
    """Validate block fields, changing only fields the edit did not set (``fixed``)."""
    data = dict(data)
    for _ in range(8):
        try:
            return BlockSpec.model_validate(data)
        except ValidationError as exc:
            message = exc.errors()[0]["msg"]
        kind, mixer = data["kind"], data["mixer"]
        if data["branches"] != "single" and (kind not in STRIDING_KINDS or mixer != "conv"):
            if "branches" in fixed:
                data["mixer"] = "conv"
                if kind not in STRIDING_KINDS:
                    data["kind"] = "basic"
            else:
                data["branches"], data["fusion"] = "single", "add"
        elif data["shortcut"] == "projection" and kind not in STRIDING_KINDS:
            if "shortcut" in fixed and "kind" not in fixed:
                data.update(kind="basic", mixer=mixer if mixer in MIXERS_BY_KIND["basic"] else "conv")
            else:
                data["shortcut"] = "auto"
        elif data["fusion"] != "add" and data["branches"] != "multi_kernel":
            if "fusion" in fixed:
                data.update(branches="multi_kernel", mixer="conv")
            else:
                data["fusion"] = "add"
        elif mixer not in MIXERS_BY_KIND[kind]:
            if "mixer" in fixed and "kind" not in fixed:
                data["kind"] = _KIND_FOR_MIXER.get(mixer, ("basic",))[0]
            else:
                data["mixer"] = _DEFAULT_MIXER.get(kind, "conv")
        elif data["shuffle"] and mixer != "grouped" and data["branches"] != "split_transform_merge":
            if "shuffle" in fixed:
                data["mixer"] = "grouped"
            else:
                data["shuffle"] = False
        elif mixer == "large_kernel" and data["kernel_size"] < 7 or mixer == "conv" and data["kernel_size"] > 7:
            data["kernel_size"] = 7
        else:
            raise EditRefused(f"block fields {sorted(fixed)} cannot be realised: {message}")
    raise EditRefused(f"block fields {sorted(fixed)} cannot be realised")


def repair_stage(data: dict[str, Any]) -> StageSpec:
    data = dict(data)
    data["overrides"] = [o for o in data.get("overrides", []) if o["index"] < data["depth"]]
    for _ in range(3):
        try:
            return StageSpec.model_validate(data)
        except ValidationError as exc:
            message = exc.errors()[0]["msg"]
            if data["downsample"] == "block":
                data["downsample"] = "strided_conv"
                continue
            raise EditRefused(f"stage cannot be realised: {message}") from None
    raise EditRefused("stage cannot be realised")


def repair_spec(data: dict[str, Any]) -> ArchSpec:
    """Validate a whole spec; downsampling the resolution cannot afford is dropped (latest first)."""
    data = dict(data)
    data["stages"] = [dict(s) for s in data["stages"]]
    for _ in range(len(data["stages"]) + 1):
        try:
            return ArchSpec.model_validate(data)
        except ValidationError as exc:
            message = exc.errors()[0]["msg"]
            downsampling = [s for s in data["stages"] if s["downsample"] != "none"]
            if "feature map is already" not in message or not downsampling:
                raise EditRefused(f"spec cannot be realised: {message}") from None
            downsampling[-1]["downsample"] = "none"
    raise EditRefused("spec cannot be realised")


# -- targets -----------------------------------------------------------------------------------
def _stage_choices(spec: ArchSpec, prefer: str | None) -> list[int]:
    indexes = list(range(len(spec.stages)))
    if prefer == "late":
        return indexes[len(indexes) // 2 :]
    return indexes


def _set_block(block: BlockSpec, fields: dict[str, Any]) -> BlockSpec:
    data = {**block.model_dump(), **fields}
    if data["kind"] != block.kind and "expansion" not in fields:
        data["expansion"] = None  # another kind, its own default ratio (a bottleneck's 0.25 is no MLP's)
    return repair_block(data, set(fields))


def _stage_with(stage: StageSpec, fields: dict[str, Any], index: int | None) -> StageSpec:
    """``fields`` set on the whole stage (index None) or on one block (an override)."""
    data = stage.model_dump()
    if index is None:
        data["block"] = _set_block(stage.block, fields).model_dump()
        data["overrides"] = [
            {"index": o.index, "block": _set_block(o.block, fields).model_dump()} for o in stage.overrides
        ]
    else:
        new = _set_block(stage.block_at(index), fields)
        overrides = [o for o in stage.overrides if o.index != index]
        if new != stage.block:
            overrides.append(BlockOverride(index=index, block=new))
        data["overrides"] = [o.model_dump() for o in sorted(overrides, key=lambda o: o.index)]
    return repair_stage(data)


def set_block_fields(
    spec: ArchSpec, fields: dict[str, Any], rng: random.Random, *, prefer: str | None = None, scope: str | None = None
) -> tuple[ArchSpec, str]:
    """Set block fields on one block, one stage or all stages (``scope``: block, stage, all)."""
    choices = _stage_choices(spec, prefer)
    scope = scope or rng.choices(["stage", "all", "block"], weights=[0.5, 0.2, 0.3])[0]
    if scope == "all":
        stages = list(spec.stages)
        for i in choices:
            stages[i] = _stage_with(stages[i], fields, None)
        where = "all stages" if len(choices) == len(spec.stages) else f"stages {choices[0]}-{choices[-1]}"
        return repair_spec({**spec.model_dump(), "stages": [s.model_dump() for s in stages]}), where
    candidates = []
    for i in choices:
        stage = spec.stages[i]
        if scope == "block":
            j = rng.randrange(stage.depth)
            new, where = _stage_with(stage, fields, j), f"stage {i} block {j}"
        else:
            new, where = _stage_with(stage, fields, None), f"stage {i}"
        candidates.append((new != stage, i, new, where))
    changed = [c for c in candidates if c[0]] or candidates
    _, i, new, where = rng.choice(changed)
    return repair_spec(spec.with_stage(i, new).model_dump()), where


# -- the realisation table ------------------------------------------------------------------------
@cache
def realisations() -> dict[str, dict[str, Any]]:
    """``realisations.yaml``: sub-category slug -> how it is realised."""
    text = resources.files("fairnad_tools.arch").joinpath("realisations.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def realisable() -> set[str]:
    return {slug for slug, entry in realisations().items() if "impossible" not in entry}


def _round8(value: float) -> int:
    return max(8, int(round(value / 8)) * 8)


def _scale_stage(stage: StageSpec, *, depth: int | None = None, width: int | None = None) -> StageSpec:
    data = stage.model_dump()
    if depth is not None:
        data["depth"] = max(1, min(24, depth))
    if width is not None:
        data["width"] = max(8, min(1024, width))
    return repair_stage(data)


def _op_depth_distribution(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
    n = len(spec.stages)
    if n == 1:
        stage = spec.stages[0]
        new_depth = stage.depth + rng.choice([-1, 1]) if stage.depth > 1 else stage.depth + 1
        return spec.with_stage(0, _scale_stage(stage, depth=new_depth)), f"stage 0 depth {stage.depth}->{new_depth}"
    donors = [i for i in range(n) if spec.stages[i].depth > 1]
    src = rng.choice(donors) if donors else None
    dst = rng.choice([i for i in range(n) if i != src])
    stages = list(spec.stages)
    if src is not None:
        stages[src] = _scale_stage(stages[src], depth=stages[src].depth - 1)
    stages[dst] = _scale_stage(stages[dst], depth=stages[dst].depth + 1)
    detail = f"one block moved from stage {src} to stage {dst}" if src is not None else f"stage {dst} deepened"
    return rebuild(spec, stages=tuple(stages)), detail


def _op_stage_widths(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
    i = rng.randrange(len(spec.stages))
    old = spec.stages[i].width
    factor = rng.choice([0.75, 1.25, 1.5])
    new = _round8(old * factor)
    if new == old:
        new = old + 8
    return spec.with_stage(i, _scale_stage(spec.stages[i], width=new)), f"stage {i} width {old}->{new}"


_EXPANSIONS = {"bottleneck": (0.25, 0.5), "inverted_residual": (2.0, 3.0, 4.0, 6.0), "convnext": (2.0, 3.0, 4.0),
               "transformer": (1.0, 2.0, 4.0), "metaformer": (2.0, 3.0, 4.0)}  # fmt: skip


def _op_expansion_ratio(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
    candidates = [i for i, s in enumerate(spec.stages) if s.block.kind in _EXPANSIONS]
    if not candidates:
        i = rng.randrange(len(spec.stages))
        stage = _stage_with(spec.stages[i], {"kind": "inverted_residual", "mixer": "depthwise", "expansion": 3.0}, None)
        return repair_spec(spec.with_stage(i, stage).model_dump()), f"stage {i} inverted residual, expansion 3"
    i = rng.choice(candidates)
    block = spec.stages[i].block
    old = block.hidden_ratio
    new = rng.choice([e for e in _EXPANSIONS[block.kind] if e != old] or [old * 2])
    stage = _stage_with(spec.stages[i], {"expansion": new}, None)
    return spec.with_stage(i, stage), f"stage {i} expansion {old:g}->{new:g}"


def _op_compound_scaling(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
    grow = rng.random() < 0.5
    stages = tuple(
        _scale_stage(s, depth=s.depth + (1 if grow else -1), width=_round8(s.width * (1.15 if grow else 0.87)))
        for s in spec.stages
    )
    return rebuild(spec, stages=stages), (
        "depth +1, width x1.15" if grow else "depth -1, width x0.87"
    ) + " in every stage"


def _op_hybrid(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
    stages = list(spec.stages)
    conv_kinds = {"basic", "bottleneck", "inverted_residual", "convnext"}
    if stages[0].block.kind not in conv_kinds:
        stages[0] = _stage_with(stages[0], {"kind": "basic", "mixer": "conv"}, None)
    attention = {"kind": "transformer", "mixer": "attention", "attention": rng.choice(["global", "windowed"]),
                 "norm": "layer", "activation": "gelu"}  # fmt: skip
    last = len(stages) - 1
    if last == 0:
        stages[0] = _stage_with(stages[0], attention, stages[0].depth - 1)
    else:
        stages[last] = _stage_with(stages[last], attention, None)
    return repair_spec({**spec.model_dump(), "stages": [s.model_dump() for s in stages]}), "conv stages, then attention"


NETWORK_OPS: dict[str, Callable[[ArchSpec, random.Random], tuple[ArchSpec, str]]] = {
    "depth_distribution": _op_depth_distribution,
    "stage_widths": _op_stage_widths,
    "expansion_ratio": _op_expansion_ratio,
    "compound_scaling": _op_compound_scaling,
    "hybrid": _op_hybrid,
}


def apply_idea(
    spec: ArchSpec, sub_category: str, rng: random.Random, *, scope: str | None = None
) -> tuple[ArchSpec, Transformation]:
    """Realise ``sub_category`` (a template slug) on ``spec``; ``scope`` for block edits: block, stage, all."""
    entry = realisations().get(sub_category)
    if entry is None:
        close = difflib.get_close_matches(sub_category, realisations(), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `fairnad_tools/arch/realisations.yaml` lists them"
        raise EditRefused(f"{sub_category!r} is not a sub-category of the attribute template{hint}")
    if "impossible" in entry:
        raise EditRefused(f"{sub_category} cannot be realised in the built-in space: {entry['impossible']}")
    target = entry["target"]
    fields = dict(entry.get("set", {}))
    if target == "block":
        new, where = set_block_fields(spec, fields, rng, prefer=entry.get("prefer"), scope=scope)
    elif target == "stage":
        new, where = _apply_stage(spec, fields, rng)
    elif target == "stem":
        new = repair_spec({**spec.model_dump(), "stem": {**spec.stem.model_dump(), **fields}})
        where = "stem"
    elif target == "head":
        new = repair_spec({**spec.model_dump(), "head": {**spec.head.model_dump(), **fields}})
        where = "head"
    else:
        new, where = NETWORK_OPS[entry["op"]](spec, rng)
        return new, Transformation("idea", "network", f"{sub_category}: {where}")
    detail = ", ".join(f"{k}={v}" for k, v in fields.items())
    return new, Transformation("idea", where, f"{sub_category}: {detail}")


def _apply_stage(spec: ArchSpec, fields: dict[str, Any], rng: random.Random) -> tuple[ArchSpec, str]:
    """Stage-level fields: ``downsample`` (a stage that downsamples) or block fields of a whole stage."""
    if "downsample" in fields:
        downsampling = [i for i, s in enumerate(spec.stages) if s.downsamples and s.downsample != fields["downsample"]]
        i = rng.choice(downsampling or [i for i in range(1, len(spec.stages))] or [0])
        stage = repair_stage({**spec.stages[i].model_dump(), **fields})
        return repair_spec(spec.with_stage(i, stage).model_dump()), f"stage {i}"
    return set_block_fields(spec, fields, rng, scope="stage")


# -- generic transformations ----------------------------------------------------------------------
_HYPERPARAMETERS: dict[str, tuple[Any, ...]] = {
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
    options = [(i, name) for i, s in enumerate(spec.stages) for name in _HYPERPARAMETERS if _relevant(s.block, name)]
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
    values = [v for v in _HYPERPARAMETERS[name] if v != old]
    if name == "kernel_size" and block.mixer == "large_kernel":
        values = [v for v in (7, 9) if v != old]
    if name == "expansion" and block.kind == "bottleneck":
        values = [v for v in values if v <= 1.0]
    new_value = rng.choice(values)
    stage = _stage_with(spec.stages[i], {name: new_value}, None)
    return repair_spec(spec.with_stage(i, stage).model_dump()), Transformation(
        "hyperparameter", f"stage {i}", f"{name} {old}->{new_value}"
    )


_SWAPS: dict[str, tuple[str, ...]] = {
    "activation": ("relu", "gelu", "silu", "hardswish"),
    "norm": ("batch", "layer", "group", "norm_free"),
    "mixer": ("conv", "depthwise", "dilated", "large_kernel", "grouped", "pool"),
    "attention": ("global", "windowed", "linear", "axial"),
    "recalibration": ("se", "eca", "spatial", "cbam"),
    "fusion": ("add", "concat", "gated"),
}


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
        if stage.downsample in ("strided_conv", "pool", "patch_merging"):
            options.append((i, "downsample"))
    i, field = rng.choice(options)
    stage = spec.stages[i]
    if field == "downsample":
        new_value = rng.choice([d for d in ("strided_conv", "pool", "patch_merging") if d != stage.downsample])
        new_stage = repair_stage({**stage.model_dump(), "downsample": new_value})
        return spec.with_stage(i, new_stage), Transformation(
            "swap", f"stage {i}", f"downsample {stage.downsample}->{new_value}"
        )
    old = getattr(stage.block, field)
    allowed = _SWAPS[field]
    if field == "mixer":
        allowed = tuple(m for m in allowed if m in MIXERS_BY_KIND[stage.block.kind])
    new_value = rng.choice([v for v in allowed if v != old] or [old])
    new_stage = _stage_with(stage, {field: new_value}, None)
    return repair_spec(spec.with_stage(i, new_stage).model_dump()), Transformation(
        "swap", f"stage {i}", f"{field} {old}->{new_value}"
    )


def insert_module(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, Transformation]:
    """Add a module that is absent: recalibration, layer scale, drop path, positional encoding, dropout."""
    options: list[tuple[str, Any]] = []
    for i, stage in enumerate(spec.stages):
        b = stage.block
        if b.recalibration == "none":
            options.append((f"stage {i}", {"recalibration": rng.choice(_SWAPS["recalibration"])}))
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
    return repair_spec(spec.with_stage(i, _stage_with(spec.stages[i], fields, None)).model_dump())


def scale(
    spec: ArchSpec, rng: random.Random, *, grow: bool, what: str | None = None
) -> tuple[ArchSpec, Transformation]:
    """Scale the depth or the width of one stage up (``grow``) or down."""
    what = what or rng.choice(["depth", "width"])
    i = rng.randrange(len(spec.stages))
    stage = spec.stages[i]
    if what == "depth":
        new = stage.depth + (rng.choice([1, 2]) if grow else -1)
        if new < 1 or new > 24:
            raise EditRefused(f"stage {i} cannot go to depth {new}")
        return spec.with_stage(i, _scale_stage(stage, depth=new)), Transformation(
            "scale", f"stage {i}", f"depth {stage.depth}->{new}"
        )
    new = _round8(stage.width * (rng.choice([1.25, 1.5]) if grow else 0.75))
    if new == stage.width or new > 1024:
        raise EditRefused(f"stage {i} width {stage.width} cannot be scaled further")
    return spec.with_stage(i, _scale_stage(stage, width=new)), Transformation(
        "scale", f"stage {i}", f"width {stage.width}->{new}"
    )


# -- budgets ---------------------------------------------------------------------------------------
def _shrink_candidates(spec: ArchSpec) -> list[tuple[ArchSpec, str]]:
    out = []
    deepest = max(range(len(spec.stages)), key=lambda i: (spec.stages[i].depth, i))
    if spec.stages[deepest].depth > 1:
        s = spec.stages[deepest]
        out.append((spec.with_stage(deepest, _scale_stage(s, depth=s.depth - 1)), f"stage {deepest} depth -1"))
    widths = tuple(_scale_stage(s, width=_round8(s.width * 0.85)) for s in spec.stages)
    if any(a.width != b.width for a, b in zip(widths, spec.stages, strict=True)):
        out.append((rebuild(spec, stages=widths), "widths x0.85"))
    widest = max(range(len(spec.stages)), key=lambda i: (spec.stages[i].width, i))
    s = spec.stages[widest]
    if _round8(s.width * 0.75) < s.width:
        out.append(
            (spec.with_stage(widest, _scale_stage(s, width=_round8(s.width * 0.75))), f"stage {widest} width x0.75")
        )
    for i, stage in enumerate(spec.stages):
        b = stage.block
        if b.kind in ("inverted_residual", "convnext", "transformer", "metaformer") and b.hidden_ratio > 1.0:
            out.append((spec.with_stage(i, _stage_with(stage, {"expansion": max(1.0, b.hidden_ratio / 2)}, None)),
                        f"stage {i} expansion /2"))  # fmt: skip
    if spec.stem.kind == "conv" and spec.stem.stride == 1 and min(spec.input_shape[1:]) >= 32:
        out.append((rebuild(spec, stem={**spec.stem.model_dump(), "stride": 2}), "stem stride 2"))
    return out


def downscale(spec: ArchSpec, budget: Budget, *, max_steps: int = 40) -> tuple[ArchSpec, Transformation]:
    """Shrink ``spec`` under the budgets, keeping every categorical choice (the applied idea stays).

    Greedy: each step takes the shrink (depth of the deepest stage, all widths, the widest
    stage, an expansion ratio, the stem stride) that brings the larger budget ratio down most.
    """
    steps = []
    params, macs = measure(spec)
    for _ in range(max_steps):
        if params <= budget[0] and macs <= budget[1]:
            return spec, Transformation("downscale", "network", ", ".join(steps) or "already within budget")
        best = None
        for candidate, how in _shrink_candidates(spec):
            try:
                cp, cm = measure(candidate)
            except Exception:  # noqa: BLE001 - a shrink that does not build is simply not taken
                continue
            score = max(cp / budget[0], cm / budget[1])
            if best is None or score < best[0]:
                best = (score, candidate, how, cp, cm)
        if best is None or best[0] >= max(params / budget[0], macs / budget[1]):
            break
        _, spec, how, params, macs = best
        steps.append(how)
    raise EditRefused(f"cannot downscale under {budget[0]:,} parameters / {budget[1]:,} MACs "
                      f"(reached {params:,} / {macs:,})")  # fmt: skip


def scale_up(
    spec: ArchSpec, budget: Budget, rng: random.Random, *, fraction: float = 0.9
) -> tuple[ArchSpec, Transformation]:
    """Grow a small model toward the budget: one deeper or wider step that stays within ``fraction``."""
    limit = (int(budget[0] * fraction), int(budget[1] * fraction))
    attempts = []
    for _ in range(6):
        try:
            new, how = scale(spec, rng, grow=True)
        except EditRefused as exc:
            attempts.append(str(exc))
            continue
        if within(new, limit):
            return new, Transformation("scale_up", how.where, how.detail)
        attempts.append(f"{how} exceeds {fraction:.0%} of the budget")
    raise EditRefused("no growth step stays within the budget: " + "; ".join(attempts[-3:]))


GENERIC: dict[str, Callable[..., tuple[ArchSpec, Transformation]]] = {
    "hyperparameter": change_hyperparameter,
    "swap": swap_module,
    "insert": insert_module,
    "delete": delete_module,
}


def realised(sub_category: str, model: Any, spec: ArchSpec, parent: ArchSpec | None = None) -> bool:
    """Whether the built ``model`` shows the evidence ``realisations.yaml`` names for ``sub_category``."""
    entry = realisations()[sub_category]
    evidence = entry.get("evidence", [])
    if isinstance(evidence, dict):
        if parent is None:
            return False
        depths = [s.depth for s in spec.stages] != [s.depth for s in parent.stages]
        widths = [s.width for s in spec.stages] != [s.width for s in parent.stages]
        expansion = [s.block.hidden_ratio for s in spec.stages] != [s.block.hidden_ratio for s in parent.stages]
        return {"depths": depths, "widths": widths, "expansion": expansion,
                "depths_and_widths": depths and widths}[evidence["changed"]]  # fmt: skip
    names = {type(m).__name__ for m in model.modules()}
    held = {f"{type(m).__name__}@{name.rsplit('.', 1)[-1]}" for name, m in model.named_modules() if name}

    def present(item: str) -> bool:
        return item in held if "@" in item else item in names

    return any(present(e) for e in evidence) and all(
        any(present(w) for w in group) for group in ([entry["with"]] if "with" in entry else [])
    )
