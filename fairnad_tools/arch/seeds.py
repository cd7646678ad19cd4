"""Seed architectures: where a search starts. Each adapts its downsampling to the input size."""

from __future__ import annotations

from collections.abc import Callable

from fairnad_tools.arch.spec import ArchSpec, BlockSpec, Downsample, StageSpec, StemSpec


def _downsample(size: int, wanted: Downsample) -> tuple[int, Downsample]:
    """Keep a downsampling step only while the map is at least 4 x 4 (so it never collapses)."""
    if wanted == "none" or size < 4:
        return size, "none"
    return -(-size // 2), wanted


def resnet32(input_shape: tuple[int, int, int] = (3, 32, 32)) -> ArchSpec:
    """CIFAR-style ResNet-32: 3 stages x 5 basic blocks, widths 16/32/64 (0.47 M parameters)."""
    size = min(input_shape[1:])
    stages = []
    for width, wanted in ((16, "none"), (32, "block"), (64, "block")):
        size, down = _downsample(size, wanted)
        stages.append(StageSpec(depth=5, width=width, downsample=down, block=BlockSpec()))
    return ArchSpec(name="resnet32", input_shape=input_shape, stem=StemSpec(width=16), stages=tuple(stages))


def mobilenetv2(input_shape: tuple[int, int, int] = (3, 32, 32)) -> ArchSpec:
    """A CIFAR MobileNetV2: inverted residuals (expansion 4, depthwise 3 x 3), ReLU6-like ReLU."""
    size = min(input_shape[1:])
    layout = (
        (1, 16, "none", 1.0),
        (2, 24, "none", 4.0),
        (3, 32, "block", 4.0),
        (3, 64, "block", 4.0),
        (2, 96, "none", 4.0),
        (2, 160, "block", 4.0),
    )
    stages = []
    for depth, width, wanted, expansion in layout:
        size, down = _downsample(size, wanted)
        block = BlockSpec(kind="inverted_residual", mixer="depthwise", expansion=expansion)
        stages.append(StageSpec(depth=depth, width=width, downsample=down, block=block))
    return ArchSpec(name="mobilenetv2", input_shape=input_shape, stem=StemSpec(width=32), stages=tuple(stages))


def convnext(input_shape: tuple[int, int, int] = (3, 32, 32)) -> ArchSpec:
    """A small ConvNeXt: patchify stem, 7 x 7 depthwise blocks with layer norm, GELU and MLP."""
    size = -(-min(input_shape[1:]) // 2)
    block = BlockSpec(
        kind="convnext", mixer="depthwise", kernel_size=7, norm="layer", activation="gelu", layer_scale=0.1
    )
    stages = []
    for depth, width, wanted in (
        (2, 32, "none"),
        (2, 64, "strided_conv"),
        (3, 128, "strided_conv"),
        (2, 160, "strided_conv"),
    ):
        size, down = _downsample(size, wanted)
        stages.append(StageSpec(depth=depth, width=width, downsample=down, block=block))
    stem = StemSpec(kind="patchify", width=32, patch=2, norm="layer", activation="gelu")
    return ArchSpec(name="convnext", input_shape=input_shape, stem=stem, stages=tuple(stages))


SEEDS: dict[str, Callable[[tuple[int, int, int]], ArchSpec]] = {
    "resnet32": resnet32,
    "mobilenetv2": mobilenetv2,
    "convnext": convnext,
}


def seed(name: str, input_shape: tuple[int, int, int]) -> ArchSpec:
    try:
        return SEEDS[name](input_shape)
    except KeyError:
        raise ValueError(f"unknown seed model {name!r}; valid: {', '.join(SEEDS)}") from None
