"""From spec to plan: the string-keyed factories of the block library and the wiring.

Each registry maps a spec value to a library part, in the manner of timm's layer
factories; :func:`plan` wires a whole :class:`ArchSpec` into a :class:`Plan` that
:meth:`Plan.build` turns into modules and :meth:`Plan.render` into ``model.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from torch import nn

from fairnad_tools.arch import library as L
from fairnad_tools.arch.plan import (
    NUM_CLASSES,
    PARTIAL,
    Call,
    Node,
    Plan,
    Ref,
    Splat,
    Var,
    call,
    lib,
    partial,
    torch_nn,
)
from fairnad_tools.arch.spec import (
    STRIDING_KINDS,
    Activation,
    ArchSpec,
    AttentionKind,
    BlockKind,
    BlockSpec,
    Branches,
    Downsample,
    Fusion,
    Mixer,
    Norm,
    Pooling,
    Recalibration,
    StageSpec,
    StemKind,
    choices,
)

NORMS: dict[str, Ref] = {
    "batch": torch_nn("BatchNorm2d"),
    "layer": lib(L.LayerNorm2d),
    "group": lib(L.GroupNorm2d),
    "norm_free": lib(L.NormFreeAffine),
}
ACTIVATIONS: dict[str, Ref] = {
    "relu": torch_nn("ReLU"),
    "gelu": torch_nn("GELU"),
    "silu": torch_nn("SiLU"),
    "hardswish": torch_nn("Hardswish"),
}
RECALIBRATIONS: dict[str, Ref] = {
    "se": lib(L.SqueezeExcite),
    "eca": lib(L.EfficientChannelAttention),
    "spatial": lib(L.SpatialAttention),
    "cbam": lib(L.CBAM),
}
ATTENTIONS: dict[str, Ref] = {
    "global": lib(L.GlobalAttention),
    "windowed": lib(L.WindowAttention),
    "linear": lib(L.LinearAttention),
    "axial": lib(L.AxialAttention),
}
FUSIONS: dict[str, Ref] = {"add": lib(L.SumFusion), "concat": lib(L.ConcatFusion), "gated": lib(L.GatedFusion)}
BLOCKS: dict[str, Ref] = {
    "basic": lib(L.BasicBlock),
    "bottleneck": lib(L.Bottleneck),
    "inverted_residual": lib(L.InvertedResidual),
    "convnext": lib(L.ConvNeXtBlock),
    "transformer": lib(L.TransformerBlock),
    "metaformer": lib(L.MetaFormerBlock),
}
STEMS: dict[str, Ref] = {
    "conv": lib(L.ConvStem),
    "patchify": lib(L.PatchifyStem),
    "overlapping_patch": lib(L.OverlapPatchEmbed),
}
DOWNSAMPLES: dict[str, Ref] = {
    "strided_conv": lib(L.ConvDownsample),
    "pool": lib(L.PoolDownsample),
    "patch_merging": lib(L.PatchMerging),
}
POOLS: dict[str, Node] = {
    "avg": call(torch_nn("AdaptiveAvgPool2d"), 1),
    "max": call(torch_nn("AdaptiveMaxPool2d"), 1),
    "avgmax": call(lib(L.AvgMaxPool)),
}
IDENTITY = torch_nn("Identity")


# Mixer and multi-branch factories: (block, bound arguments, keeps-width) -> the mixer's factory.
MixerFactory = Callable[[BlockSpec, dict[str, int], bool], Node]


def _attention_mixer(block: BlockSpec, bound: dict[str, int], same_width: bool) -> Node:
    kwargs = {"heads": block.heads} | ({"window": block.window} if block.attention == "windowed" else {})
    return partial(ATTENTIONS[block.attention], **kwargs)


def _depthwise_mixer(block: BlockSpec, bound: dict[str, int], same_width: bool) -> Node:
    if same_width:
        return partial(lib(L.DepthwiseConv), **bound, kernel_size=block.kernel_size)
    return partial(lib(L.DepthwiseSeparable), **bound, kernel_size=block.kernel_size)


def _grouped_mixer(block: BlockSpec, bound: dict[str, int], same_width: bool) -> Node:
    k = block.kernel_size
    if block.shuffle:
        grouped = partial(lib(L.GroupedConv), kernel_size=k, groups=block.groups)
        after = partial(lib(L.ChannelShuffle), groups=block.groups)
        return partial(lib(L.MixerThen), **bound, mixer=grouped, after=after)
    return partial(lib(L.GroupedConv), **bound, kernel_size=k, groups=block.groups)


MIXERS: dict[str, MixerFactory] = {
    "conv": lambda b, bound, _: partial(lib(L.ConvKxK), **bound, kernel_size=b.kernel_size),
    "depthwise": _depthwise_mixer,
    "dilated": lambda b, bound, _: partial(lib(L.DilatedConv), **bound, kernel_size=3),
    "large_kernel": lambda b, bound, _: partial(lib(L.LargeKernelConv), **bound, kernel_size=b.kernel_size),
    "grouped": _grouped_mixer,
    "pool": lambda b, bound, _: partial(lib(L.PoolMixer), **bound),
    "attention": _attention_mixer,
}
"""Spec ``mixer`` value -> the factory of that mixer (keys: the values of :data:`~fairnad_tools.arch.spec.Mixer`)."""
BRANCHES: dict[str, MixerFactory] = {
    "split_transform_merge": lambda b, bound, _: partial(
        lib(L.SplitTransformMerge), kernel_size=b.kernel_size, cardinality=b.groups
    ),
    "multi_kernel": lambda b, bound, _: partial(lib(L.MultiKernel), fusion=FUSIONS[b.fusion]),
    "reparam": lambda b, bound, _: partial(lib(L.RepConv), norm=NORMS[b.norm]),
}
"""Spec ``branches`` value -> the multi-branch module replacing the mixer (``single``: the mixer itself)."""


def mixer(block: BlockSpec, *, channels: int | None = None) -> Node:
    """Factory of the spatial mixer, called ``mixer(in_ch, out_ch, stride)``.

    With ``channels`` (ConvNeXt and MetaFormer blocks, which keep the width) the factory
    is called ``mixer(channels)`` and the other arguments are bound here. A multi-branch
    block (``branches`` other than ``single``) takes its module from :data:`BRANCHES`,
    others from :data:`MIXERS`.
    """
    same_width = block.kind in ("convnext", "metaformer", "inverted_residual")
    bound = {"out_ch": channels} if channels is not None else {}
    if block.branches != "single":
        return BRANCHES[block.branches](block, bound, same_width)
    return MIXERS[block.mixer](block, bound, same_width)


_NO_MODULE = {"none", "single", "block"}  # spec values that mean "no module here"
VOCABULARIES: dict[str, tuple[tuple[str, ...], Mapping[str, object]]] = {
    name: (tuple(v for v in choices(literal) if v not in _NO_MODULE), registry)
    for name, literal, registry in (
        ("BlockKind", BlockKind, BLOCKS),
        ("Mixer", Mixer, MIXERS),
        ("Branches", Branches, BRANCHES),
        ("Norm", Norm, NORMS),
        ("Activation", Activation, ACTIVATIONS),
        ("Recalibration", Recalibration, RECALIBRATIONS),
        ("AttentionKind", AttentionKind, ATTENTIONS),
        ("Fusion", Fusion, FUSIONS),
        ("StemKind", StemKind, STEMS),
        ("Downsample", Downsample, DOWNSAMPLES),
        ("Pooling", Pooling, POOLS),
    )
}
"""Spec ``Literal`` name -> (its values that name a module, the registry that must have exactly those keys)."""


def vocabulary_gaps() -> list[str]:
    """Every value in a spec ``Literal`` without a registry entry, and every registry key the spec
    cannot write, one line each (``Norm: 'instance' is in the spec but not in the registry``); empty
    when the spec and the registries agree."""
    gaps = []
    for name, (values, registry) in VOCABULARIES.items():
        gaps += [f"{name}: {v!r} is in the spec but not in the registry" for v in values if v not in registry]
        gaps += [f"{name}: {k!r} is in the registry but not in the spec" for k in registry if k not in values]
    return gaps


def tail(block: BlockSpec) -> Node:
    """What follows the residual branch: recalibration, layer scale, stochastic depth."""
    parts: list[Node] = []
    if block.recalibration != "none":
        parts.append(RECALIBRATIONS[block.recalibration])
    if block.layer_scale is not None:
        parts.append(partial(lib(L.LayerScale), init=block.layer_scale))
    if block.drop_path > 0:
        parts.append(partial(lib(L.DropPath), p=block.drop_path))
    return partial(lib(L.Tail), parts=parts) if parts else IDENTITY


@dataclass
class _Wiring:
    """Collects the hoisted factories (``block = partial(...)``) while a plan is made."""

    lets: list[tuple[str, Node]] = field(default_factory=list)

    def name(self, base: str, node: Node) -> Var | Node:
        if not _is_partial(node):
            return node
        for name, existing in self.lets:
            if existing == node:
                return Var(name)
        used = {name for name, _ in self.lets}
        name = base if base not in used else next(f"{base}{i}" for i in range(2, 100) if f"{base}{i}" not in used)
        self.lets.append((name, node))
        return Var(name)


def _is_partial(node: Node) -> bool:
    return isinstance(node, Call) and node.fn == PARTIAL


def _block_call(block: BlockSpec, in_ch: int, out_ch: int, stride: int, wiring: _Wiring, force_identity: bool) -> Node:
    norm, act = NORMS[block.norm], ACTIVATIONS[block.activation]
    if block.kind in STRIDING_KINDS:
        kwargs = {"mixer": mixer(block), "norm": norm, "act": act, "tail": tail(block)}
        if block.kind != "basic":
            kwargs["expansion"] = block.hidden_ratio
        factory = wiring.name("block", partial(BLOCKS[block.kind], **kwargs))
        project = in_ch != out_ch or stride != 1 or (block.shortcut == "projection" and not force_identity)
        shortcut = wiring.name("project", partial(lib(L.ProjectionShortcut), norm=norm)) if project else IDENTITY
        return call(factory, in_ch, out_ch, stride, shortcut=shortcut)
    mlp = partial(lib(L.ConvMLP), expansion=block.hidden_ratio, act=act)
    if block.kind == "convnext":
        kwargs = {"mixer": mixer(block, channels=out_ch), "norm": norm, "mlp": mlp, "tail": tail(block)}
    elif block.kind == "transformer":
        kwargs = {
            "attention": mixer(block.model_copy(update={"mixer": "attention"})),
            "norm": norm,
            "mlp": mlp,
            "tail": tail(block),
        }
    else:
        kwargs = {"token_mixer": mixer(block, channels=out_ch), "norm": norm, "mlp": mlp, "tail": tail(block)}
    return call(wiring.name("block", partial(BLOCKS[block.kind], **kwargs)), out_ch)


def _stage(stage: StageSpec, in_ch: int, wiring: _Wiring) -> Node:
    modules: list[Node] = []
    norm = NORMS[stage.block.norm]
    stride = 1
    if stage.downsample == "block":
        stride = 2
    elif stage.downsample != "none":
        modules.append(call(DOWNSAMPLES[stage.downsample], in_ch, stage.width, norm=norm))
        in_ch = stage.width
    elif in_ch != stage.width and (stage.block_at(0).kind not in STRIDING_KINDS or stage.block.shortcut == "dense"):
        modules.append(call(lib(L.ChannelProjection), in_ch, stage.width, norm=norm))
        in_ch = stage.width
    blocks = []
    dense = stage.block.shortcut == "dense"
    for index in range(stage.depth):
        block_in = in_ch if index == 0 else stage.width
        blocks.append(
            _block_call(stage.block_at(index), block_in, stage.width, stride if index == 0 else 1, wiring, dense)
        )
    blocks = _runs(blocks)
    if dense:
        modules.append(call(lib(L.DenseStage), stage.width, blocks))
    else:
        modules.extend(blocks)
    return call(torch_nn("Sequential"), *modules)


def _runs(items: list[Node]) -> list[Node]:
    """Consecutive identical calls become ``*[call for _ in range(n)]``."""
    out: list[Node] = []
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[i]:
            j += 1
        out.append(Splat(items[i], j - i + 1) if j > i else items[i])
        i = j + 1
    return out


def plan(spec: ArchSpec) -> Plan:
    """The construction plan of ``spec``."""
    wiring = _Wiring()
    c, h, w = spec.input_shape
    stem_spec = spec.stem
    norm, act = NORMS[stem_spec.norm], ACTIVATIONS[stem_spec.activation]
    if stem_spec.kind == "conv":
        stem: Node = call(STEMS["conv"], c, stem_spec.width, norm=norm, act=act, stride=stem_spec.stride)
    else:
        stem = call(STEMS[stem_spec.kind], c, stem_spec.width, norm=norm, patch=stem_spec.patch)
    if stem_spec.positional_encoding:
        sh, sw = (-(-d // stem_spec.reduction) for d in (h, w))
        stem = call(torch_nn("Sequential"), stem, call(lib(L.PositionalEncoding), stem_spec.width, sh, sw))
    stages = []
    in_ch = stem_spec.width
    for stage in spec.stages:
        stages.append(_stage(stage, in_ch, wiring))
        in_ch = stage.width
    width = spec.stages[-1].width * (2 if spec.head.pooling == "avgmax" else 1)
    head_parts = [POOLS[spec.head.pooling], call(torch_nn("Flatten"))]
    if spec.head.dropout > 0:
        head_parts.append(call(torch_nn("Dropout"), spec.head.dropout))
    head_parts.append(call(torch_nn("Linear"), width, NUM_CLASSES))
    root = call(lib(L.Net), stem=stem, stages=stages, head=call(torch_nn("Sequential"), *head_parts))
    return Plan(root=root, lets=wiring.lets)


def build(spec: ArchSpec, num_classes: int = 10) -> nn.Module:
    """Build ``spec`` in this process (trusted: library code only)."""
    return plan(spec).build(num_classes)


def render(spec: ArchSpec) -> str:
    """The standalone ``model.py`` of ``spec``."""
    c, h, w = spec.input_shape
    lines, line = [], f"{spec.name}:"
    for i, part in enumerate(spec.describe().split(" | ")):
        if len(line) + len(part) + 3 > 110:
            lines.append(line)
            line = " "
        line += f" {part}" if i == 0 else f" | {part}"
    lines.append(line)
    doc = "\n".join(lines) + f"\n\nRendered by FairNAD from spec.json for {c}x{h}x{w} inputs.\n"
    return plan(spec).render(doc)
