# expect: too_shallow
# about: collapsed model: global average pool of the raw image and one Linear (one weighted layer)
import torch
from torch import nn


def build_model(num_classes: int) -> nn.Module:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, num_classes))
