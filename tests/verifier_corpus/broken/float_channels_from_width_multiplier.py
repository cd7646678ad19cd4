# expect: build_error
# about: width multiplier gives float channel counts (64 * 0.75 = 48.0) passed to nn.Conv2d (TypeError)
import torch
from torch import nn

WIDTH_MULT = 0.75


def build_model(num_classes: int) -> nn.Module:
    c1, c2, c3 = 32 * WIDTH_MULT, 64 * WIDTH_MULT, 128 * WIDTH_MULT
    return nn.Sequential(
        nn.Conv2d(3, c1, 3, padding=1), nn.ReLU(),
        nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(c2, c3, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c3, num_classes),
    )
