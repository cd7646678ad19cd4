# expect: forbidden_import
# about: relative import of a sibling module (from .blocks import ResidualBlock); a candidate is one standalone file
import torch
from torch import nn

from .blocks import ResidualBlock


def build_model(num_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), ResidualBlock(32), ResidualBlock(32),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes),
    )
