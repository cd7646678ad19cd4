# expect: build_error
# about: grouped conv with groups=8 on 36 input channels (in_channels must be divisible by groups)
import torch
from torch import nn


def build_model(num_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 36, 3, padding=1), nn.ReLU(),
        nn.Conv2d(36, 64, 3, stride=2, padding=1, groups=8), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
    )
