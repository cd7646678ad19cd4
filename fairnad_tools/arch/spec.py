"""The architecture spec: a typed, validated description of a whole network.

A spec has a stem, stages (depth, width, downsampling, a block spec, optional per-block
overrides) and a head. Every field is a choice from the block library, so a spec can be
built in-process, rendered to a standalone ``model.py``, compared and mutated by typed
transformations. Impossible combinations are rejected with a message naming the field.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

BlockKind = Literal["basic", "bottleneck", "inverted_residual", "convnext", "transformer", "metaformer"]
Mixer = Literal["conv", "depthwise", "dilated", "large_kernel", "grouped", "pool", "attention"]
AttentionKind = Literal["global", "windowed", "linear", "axial"]
Branches = Literal["single", "split_transform_merge", "multi_kernel", "reparam"]
Fusion = Literal["add", "concat", "gated"]
Norm = Literal["batch", "layer", "group", "norm_free"]
Activation = Literal["relu", "gelu", "silu", "hardswish"]
Recalibration = Literal["none", "se", "eca", "spatial", "cbam"]
Shortcut = Literal["auto", "projection", "dense"]
Downsample = Literal["block", "strided_conv", "pool", "patch_merging", "none"]
StemKind = Literal["conv", "patchify", "overlapping_patch"]
Pooling = Literal["avg", "max", "avgmax"]

# The Literals above are the single spelling of each vocabulary: the wiring registries
# (arch/wiring.py) must have exactly their values as keys (tests/test_vocabulary.py), and the
# swap tables of the edits (arch/edits.py) are derived from them with choices().


def choices(literal: Any) -> tuple[Any, ...]:
    """The values of a ``Literal`` vocabulary, in the order written (``choices(Norm)``)."""
    return get_args(literal)


STRIDING_KINDS = frozenset({"basic", "bottleneck", "inverted_residual"})
"""Block kinds that can stride and hold a projection shortcut or a multi-branch mixer."""
_SPATIAL_MIXERS = frozenset(choices(Mixer)) - {"attention"}
MIXERS_BY_KIND: dict[str, frozenset[str]] = {
    **{kind: _SPATIAL_MIXERS for kind in ("basic", "bottleneck", "inverted_residual", "convnext")},
    "transformer": frozenset({"attention"}),
    "metaformer": frozenset({"pool", "attention", "depthwise", "large_kernel"}),
}
"""Block kind -> the mixers it can hold (every kind of :data:`BlockKind` is a key)."""
DEFAULT_EXPANSION = {
    "basic": 1.0,
    "bottleneck": 0.25,
    "inverted_residual": 4.0,
    "convnext": 4.0,
    "transformer": 2.0,
    "metaformer": 4.0,
}

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class BlockSpec(BaseModel):
    """One residual block: its design and every module choice inside it."""

    model_config = _FROZEN

    kind: BlockKind = "basic"
    mixer: Mixer = Field(default="conv", description="spatial (or token) mixer")
    kernel_size: Literal[3, 5, 7, 9] = 3
    groups: int = Field(
        default=4, ge=2, le=32, description="groups of a grouped conv, cardinality of split-transform-merge"
    )
    shuffle: bool = Field(default=False, description="channel shuffle after the grouped convolution")
    attention: AttentionKind = Field(default="global", description="attention operator when the mixer is attention")
    heads: int = Field(default=2, ge=1, le=16)
    window: int = Field(default=4, ge=2, le=16)
    branches: Branches = Field(default="single", description="multi-branch replacement of the spatial mixer")
    fusion: Fusion = Field(default="add", description="how the multi-kernel branches merge")
    expansion: float | None = Field(
        default=None, gt=0, le=8, description="hidden width ratio; unset: the kind's default"
    )
    norm: Norm = "batch"
    activation: Activation = "relu"
    recalibration: Recalibration = "none"
    shortcut: Shortcut = Field(default="auto", description="auto: identity when shapes match, else projection")
    layer_scale: float | None = Field(default=None, gt=0, le=1, description="initial layer-scale value; unset: none")
    drop_path: float = Field(default=0.0, ge=0, le=0.5, description="stochastic-depth probability")

    @model_validator(mode="after")
    def _consistent(self) -> BlockSpec:
        allowed = MIXERS_BY_KIND[self.kind]
        if self.mixer not in allowed:
            raise ValueError(
                f"mixer={self.mixer!r} does not fit a {self.kind} block; valid: {', '.join(sorted(allowed))}"
            )
        if self.mixer == "large_kernel" and self.kernel_size < 7:
            raise ValueError("mixer='large_kernel' needs kernel_size 7 or 9")
        if self.mixer == "conv" and self.kernel_size > 7:
            raise ValueError("kernel_size=9 is only for depthwise or large-kernel mixers")
        if self.branches != "single":
            if self.kind not in STRIDING_KINDS:
                raise ValueError(
                    f"branches={self.branches!r} replaces the spatial mixer of basic, bottleneck or "
                    f"inverted_residual blocks, not of a {self.kind} block"
                )
            if self.mixer != "conv":
                raise ValueError(f"branches={self.branches!r} replaces the mixer: set mixer='conv'")
        if self.shortcut == "projection" and self.kind not in STRIDING_KINDS:
            raise ValueError(
                f"shortcut='projection' needs a block with a shortcut module (basic, bottleneck, "
                f"inverted_residual), not {self.kind}"
            )
        if self.fusion != "add" and self.branches != "multi_kernel":
            raise ValueError(f"fusion={self.fusion!r} merges multi-kernel branches: set branches='multi_kernel'")
        if self.shuffle and self.mixer != "grouped" and self.branches != "split_transform_merge":
            raise ValueError(
                "shuffle=True follows a grouped convolution: set mixer='grouped' or branches='split_transform_merge'"
            )
        return self

    @property
    def hidden_ratio(self) -> float:
        return self.expansion if self.expansion is not None else DEFAULT_EXPANSION[self.kind]

    def categorical(self) -> dict[str, Any]:
        """The choices that define the structure (numbers left out), only the ones in effect."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "norm": self.norm,
            "activation": self.activation,
            "recalibration": self.recalibration,
            "shortcut": self.shortcut,
            "layer_scale": self.layer_scale is not None,
            "drop_path": self.drop_path > 0,
        }
        if self.branches != "single":
            out["branches"] = self.branches
            if self.branches == "multi_kernel":
                out["fusion"] = self.fusion
        else:
            out["mixer"] = self.mixer
            if self.mixer == "attention" or self.kind == "transformer":
                out["attention"] = self.attention
        if self.shuffle:
            out["shuffle"] = True
        return out


class BlockOverride(BaseModel):
    """A different block at one position of a stage."""

    model_config = _FROZEN

    index: int = Field(ge=0)
    block: BlockSpec


class StageSpec(BaseModel):
    model_config = _FROZEN

    depth: int = Field(ge=1, le=24)
    width: int = Field(ge=8, le=1024)
    downsample: Downsample = Field(
        default="none",
        description="block: the first block strides; strided_conv, pool, patch_merging: a module before the blocks",
    )
    block: BlockSpec = Field(default_factory=BlockSpec)
    overrides: tuple[BlockOverride, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> StageSpec:
        seen = set()
        for override in self.overrides:
            if override.index >= self.depth:
                raise ValueError(f"overrides: block index {override.index} is beyond depth {self.depth}")
            if override.index in seen:
                raise ValueError(f"overrides: block index {override.index} appears twice")
            seen.add(override.index)
        first = self.block_at(0)
        if self.downsample == "block" and first.kind not in STRIDING_KINDS:
            raise ValueError(
                f"downsample='block' needs a first block that can stride (basic, bottleneck, "
                f"inverted_residual), not {first.kind}; use strided_conv, pool or patch_merging"
            )
        if self.block.shortcut == "dense" and self.downsample == "block":
            raise ValueError(
                "dense connectivity keeps the width inside a stage: use downsample strided_conv, pool, "
                "patch_merging or none"
            )
        return self

    def block_at(self, index: int) -> BlockSpec:
        for override in self.overrides:
            if override.index == index:
                return override.block
        return self.block

    @property
    def downsamples(self) -> bool:
        return self.downsample != "none"


class StemSpec(BaseModel):
    model_config = _FROZEN

    kind: StemKind = "conv"
    width: int = Field(default=16, ge=8, le=256)
    stride: Literal[1, 2] = Field(default=1, description="stride of the conv stem")
    patch: Literal[2, 4] = Field(default=2, description="patch size of patchify / overlapping-patch stems")
    positional_encoding: bool = False
    norm: Norm = "batch"
    activation: Activation = "relu"

    @property
    def reduction(self) -> int:
        return self.stride if self.kind == "conv" else self.patch


class HeadSpec(BaseModel):
    model_config = _FROZEN

    pooling: Pooling = "avg"
    dropout: float = Field(default=0.0, ge=0, lt=1)


class ArchSpec(BaseModel):
    """A whole network, for one input shape (C, H, W)."""

    model_config = _FROZEN

    schema_version: Literal[2] = 2
    name: str = Field(default="net", min_length=1, max_length=64)
    input_shape: tuple[int, int, int]
    stem: StemSpec = Field(default_factory=StemSpec)
    stages: tuple[StageSpec, ...] = Field(min_length=1, max_length=6)
    head: HeadSpec = Field(default_factory=HeadSpec)

    @model_validator(mode="after")
    def _resolution(self) -> ArchSpec:
        channels, height, width = self.input_shape
        if min(self.input_shape) < 1:
            raise ValueError(f"input_shape must be positive, got {self.input_shape}")
        size = min(height, width)
        size = -(-size // self.stem.reduction)
        for index, stage in enumerate(self.stages):
            if stage.downsamples:
                if size < 2:
                    raise ValueError(
                        f"stages[{index}].downsample={stage.downsample!r}: the feature map is already "
                        f"{size}x{size}; use downsample 'none' for this stage"
                    )
                size = -(-size // 2)
        return self

    def resolutions(self) -> list[tuple[int, int]]:
        """Feature-map size (H, W) inside each stage."""
        h, w = (-(-d // self.stem.reduction) for d in self.input_shape[1:])
        sizes = []
        for stage in self.stages:
            if stage.downsamples:
                h, w = -(-h // 2), -(-w // 2)
            sizes.append((h, w))
        return sizes

    def structure_hash(self) -> str:
        """Hash of everything that defines the architecture (the name is ignored)."""
        blob = json.dumps(self.model_dump(mode="json", exclude={"name"}), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def signature(self) -> str:
        """Hash of the categorical choices only: numeric tweaks (depth, width, kernel) do not change it."""
        stages = []
        for stage in self.stages:
            stages.append(
                {
                    "downsample": stage.downsample,
                    "block": stage.block.categorical(),
                    "overrides": sorted(
                        (o.index, json.dumps(o.block.categorical(), sort_keys=True)) for o in stage.overrides
                    ),
                }
            )
        payload = {
            "stem": {
                "kind": self.stem.kind,
                "pos": self.stem.positional_encoding,
                "norm": self.stem.norm,
                "activation": self.stem.activation,
            },
            "stages": stages,
            "head": {"pooling": self.head.pooling, "dropout": self.head.dropout > 0},
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def describe(self) -> str:
        """One line a person can read."""
        parts = [f"{self.stem.kind} stem {self.stem.width}" + (" +pos" if self.stem.positional_encoding else "")]
        for stage in self.stages:
            b = stage.block
            mix = (
                b.branches if b.branches != "single" else (f"{b.attention}-attn" if b.mixer == "attention" else b.mixer)
            )
            text = f"{stage.depth}x{stage.width}{'/' + stage.downsample if stage.downsamples else ''} {b.kind}:{mix}"
            extras = [b.norm, b.activation] + ([b.recalibration] if b.recalibration != "none" else [])
            parts.append(
                f"{text} ({', '.join(extras)})" + (f" +{len(stage.overrides)} override" if stage.overrides else "")
            )
        return " | ".join(parts)

    def with_stage(self, index: int, stage: StageSpec) -> ArchSpec:
        stages = list(self.stages)
        stages[index] = stage
        return rebuild(self, stages=tuple(stages))


def rebuild(spec: ArchSpec, **changes: Any) -> ArchSpec:
    """A copy with ``changes``, validated again (``model_copy`` would skip validation)."""
    data = spec.model_dump()
    for key, value in changes.items():
        data[key] = (
            value.model_dump()
            if isinstance(value, BaseModel)
            else (
                [v.model_dump() if isinstance(v, BaseModel) else v for v in value]
                if isinstance(value, tuple | list)
                else value
            )
        )
    return ArchSpec.model_validate(data)
