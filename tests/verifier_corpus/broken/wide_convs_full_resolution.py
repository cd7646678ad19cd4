# expect: over_flops_budget
# about: four 128-channel 3x3 convs at full 32x32 resolution before any downsampling: ~0.45M params but ~457M MACs
import torch
from torch import nn


def build_model(num_classes: int) -> nn.Module:
    layers = []
    in_ch = 3
    for _ in range(4):
        layers += [nn.Conv2d(in_ch, 128, 3, padding=1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True)]
        in_ch = 128
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, num_classes))
