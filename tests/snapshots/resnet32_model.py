"""resnet32: conv stem 16 | 5x16 basic:conv (batch, relu) | 5x32/block basic:conv (batch, relu)
  | 5x64/block basic:conv (batch, relu)

Rendered by FairNAD from spec.json for 3x32x32 inputs.
"""

from functools import partial

import torch
from torch import nn


class ConvKxK(nn.Conv2d):
    """Standard k x k convolution (no bias: a norm follows)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, kernel_size: int = 3) -> None:
        super().__init__(in_ch, out_ch, kernel_size, stride, kernel_size // 2, bias=False)


class ProjectionShortcut(nn.Sequential):
    """1 x 1 convolution and norm on the residual path when shape changes (or always, if asked)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, norm: type[nn.Module]) -> None:
        super().__init__(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), norm(out_ch))


class BasicBlock(nn.Module):
    """Two spatial mixers with norm and activation, plus a shortcut (ResNet basic block)."""

    def __init__(self, in_ch, out_ch, stride, mixer, norm, act, shortcut, tail) -> None:
        super().__init__()
        body = [mixer(in_ch, out_ch, stride), norm(out_ch), act(), mixer(out_ch, out_ch, 1), norm(out_ch)]
        self.body = nn.Sequential(*body)
        self.tail = tail(out_ch)
        self.shortcut = shortcut(in_ch, out_ch, stride)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.tail(self.body(x)) + self.shortcut(x))


class ConvStem(nn.Sequential):
    """3 x 3 convolution, norm, activation."""

    def __init__(self, in_ch: int, out_ch: int, norm, act, stride: int = 1) -> None:
        super().__init__(nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False), norm(out_ch), act())


class Net(nn.Module):
    """Stem, stages, classifier head."""

    def __init__(self, stem: nn.Module, stages: list[nn.Module], head: nn.Module) -> None:
        super().__init__()
        self.stem = stem
        self.stages = nn.Sequential(*stages)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def build_model(num_classes: int) -> nn.Module:
    block = partial(BasicBlock, mixer=ConvKxK, norm=nn.BatchNorm2d, act=nn.ReLU, tail=nn.Identity)
    project = partial(ProjectionShortcut, norm=nn.BatchNorm2d)
    return Net(
        stem=ConvStem(3, 16, norm=nn.BatchNorm2d, act=nn.ReLU),
        stages=[
            nn.Sequential(*[block(16, 16, 1, shortcut=nn.Identity) for _ in range(5)]),
            nn.Sequential(
                block(16, 32, 2, shortcut=project),
                *[block(32, 32, 1, shortcut=nn.Identity) for _ in range(4)],
            ),
            nn.Sequential(
                block(32, 64, 2, shortcut=project),
                *[block(64, 64, 1, shortcut=nn.Identity) for _ in range(4)],
            ),
        ],
        head=nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)),
    )
