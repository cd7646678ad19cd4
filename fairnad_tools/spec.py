"""The typed architecture spec and its renderer to a standalone ``model.py``.

A spec is a small pydantic model that fully describes a CIFAR-style residual network:
a conv stem, stages of residual blocks (depth, width, stride, kernel size, optional
squeeze-and-excitation) and a pooled linear head. Built-in mutations edit specs, never
code; :func:`render_model_source` turns a spec into readable PyTorch source that
imports only torch and defines ``build_model(num_classes)`` (the candidate contract).
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Activation = Literal["relu", "gelu", "silu", "hardswish"]
ACTIVATIONS: tuple[str, ...] = ("relu", "gelu", "silu", "hardswish")
KERNEL_SIZES: tuple[int, ...] = (3, 5, 7)

_ACT_MODULE = {
    "relu": "nn.ReLU(inplace=True)",
    "gelu": "nn.GELU()",
    "silu": "nn.SiLU(inplace=True)",
    "hardswish": "nn.Hardswish(inplace=True)",
}


class StageSpec(BaseModel):
    """One stage: ``depth`` residual blocks of ``width`` channels; the first block strides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    depth: int = Field(ge=1, le=24, description="number of residual blocks")
    width: int = Field(ge=4, le=1024, description="output channels of every block")
    stride: Literal[1, 2] = Field(description="stride of the first block")
    kernel_size: Literal[3, 5, 7] = Field(default=3, description="kernel of both convolutions")
    se: bool = Field(default=False, description="squeeze-and-excitation after the second conv")


class ArchSpec(BaseModel):
    """A whole network, rendered for one input shape (C, H, W)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    name: str = Field(default="net", min_length=1, max_length=64)
    input_shape: tuple[int, int, int] = Field(description="(channels, height, width)")
    stem_width: int = Field(ge=4, le=256)
    activation: Activation = "relu"
    se_reduction: int = Field(default=4, ge=1, le=64)
    stages: tuple[StageSpec, ...] = Field(min_length=1, max_length=6)

    @model_validator(mode="after")
    def _check_resolution(self) -> ArchSpec:
        channels, height, width = self.input_shape
        if channels < 1 or height < 1 or width < 1:
            raise ValueError(f"input_shape must be positive, got {self.input_shape}")
        size = min(height, width)
        for index, stage in enumerate(self.stages):
            size = (size + stage.stride - 1) // stage.stride
            if stage.stride == 2 and size < 2:
                raise ValueError(
                    f"stages[{index}].stride=2 shrinks a {height}x{width} input below 2x2; "
                    "use stride 1 for this stage or fewer downsampling stages"
                )
        return self

    def structure_hash(self) -> str:
        """Hash of everything that defines the architecture (the name is ignored)."""
        payload = self.model_dump(mode="json", exclude={"name"})
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe(self) -> str:
        """One line a person can read, e.g. ``relu 16 | 5x16 k3 | 5x32/2 k3 se | ...``."""
        parts = [f"{self.activation} stem {self.stem_width}"]
        for stage in self.stages:
            text = f"{stage.depth}x{stage.width}" + ("/2" if stage.stride == 2 else "")
            text += f" k{stage.kernel_size}" + (" se" if stage.se else "")
            parts.append(text)
        return " | ".join(parts)


def resnet32(input_shape: tuple[int, int, int] = (3, 32, 32)) -> ArchSpec:
    """The CIFAR-style ResNet-32 seed: 3 stages x 5 basic blocks, widths 16/32/64."""
    return ArchSpec(
        name="resnet32",
        input_shape=input_shape,
        stem_width=16,
        activation="relu",
        stages=(
            StageSpec(depth=5, width=16, stride=1),
            StageSpec(depth=5, width=32, stride=2),
            StageSpec(depth=5, width=64, stride=2),
        ),
    )


_SE_CLASS = '''

class SqueezeExcite(nn.Module):
    """Channel recalibration: global pool, bottleneck MLP, sigmoid gate."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))
'''


def render_model_source(spec: ArchSpec) -> str:
    """Render ``spec`` as a standalone, readable ``model.py`` (imports only torch)."""
    uses_se = any(stage.se for stage in spec.stages)
    act = _ACT_MODULE[spec.activation]
    se_param = ", se: bool" if uses_se else ""
    se_init = (
        f"\n        self.se = SqueezeExcite(out_ch, {spec.se_reduction}) if se else nn.Identity()" if uses_se else ""
    )
    se_call = "\n        out = self.se(out)" if uses_se else ""
    in_ch = spec.stem_width
    calls = []
    for stage in spec.stages:
        args = f"{in_ch}, {stage.width}, depth={stage.depth}, stride={stage.stride}, kernel_size={stage.kernel_size}"
        if uses_se:
            args += f", se={stage.se}"
        calls.append(f"            make_stage({args}),")
        in_ch = stage.width
    stages_src = "\n".join(calls)
    c, h, w = spec.input_shape
    return f'''"""{spec.name}: {spec.describe()}

Rendered by FairNAD from spec.json for inputs of shape {c}x{h}x{w}.
"""

import torch
from torch import nn
{_SE_CLASS if uses_se else ""}

class BasicBlock(nn.Module):
    """Two k x k convolutions with batch norm and a residual connection."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, kernel_size: int{se_param}) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv2d(in_ch, out_ch, kernel_size, stride, pad, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, kernel_size, 1, pad, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch){se_init}
        self.act = {act}
        self.shortcut = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out)){se_call}
        return self.act(out + self.shortcut(x))


def make_stage(in_ch: int, out_ch: int, depth: int, stride: int, kernel_size: int{se_param}) -> nn.Sequential:
    blocks = [BasicBlock(in_ch, out_ch, stride, kernel_size{", se" if uses_se else ""})]
    blocks += [BasicBlock(out_ch, out_ch, 1, kernel_size{", se" if uses_se else ""}) for _ in range(depth - 1)]
    return nn.Sequential(*blocks)


class Net(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d({c}, {spec.stem_width}, 3, 1, 1, bias=False),
            nn.BatchNorm2d({spec.stem_width}),
            {act},
        )
        self.stages = nn.Sequential(
{stages_src}
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear({spec.stages[-1].width}, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
'''
