# expect: ok
# about: configuration as a frozen dataclass; layer factories built with functools.partial; typing annotations
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import nn


@dataclass(frozen=True)
class NetConfig:
    widths: tuple[int, ...] = (24, 48, 96)
    blocks_per_stage: int = 2
    bn_momentum: float = 0.05
    dropout: float = 0.1
    activation: Callable[[], nn.Module] = field(default=partial(nn.SiLU, inplace=True))


class ConvUnit(nn.Module):
    def __init__(self, conv: Callable[..., nn.Conv2d], norm: Callable[[int], nn.Module],
                 act: Callable[[], nn.Module], in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.conv = conv(in_ch, out_ch, stride=stride)
        self.norm = norm(out_ch)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class ConfigNet(nn.Module):
    def __init__(self, cfg: NetConfig, num_classes: int):
        super().__init__()
        conv3 = partial(nn.Conv2d, kernel_size=3, padding=1, bias=False)
        norm = partial(nn.BatchNorm2d, momentum=cfg.bn_momentum)
        unit = partial(ConvUnit, conv3, norm, cfg.activation)
        layers = [unit(3, cfg.widths[0])]
        in_ch = cfg.widths[0]
        for i, w in enumerate(cfg.widths):
            for j in range(cfg.blocks_per_stage):
                layers.append(unit(in_ch, w, stride=2 if (j == 0 and i > 0) else 1))
                in_ch = w
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(cfg.dropout),
            nn.Linear(in_ch, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def build_model(num_classes: int) -> nn.Module:
    return ConfigNet(NetConfig(), num_classes)
