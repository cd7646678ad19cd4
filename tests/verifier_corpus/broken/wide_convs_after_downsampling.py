# expect: over_param_budget
# about: channel count doubled up to 512 with a 512->512 conv at 4x4: cheap in FLOPs but ~3.9M parameters
import torch
from torch import nn


def cbr(i: int, o: int, s: int) -> list:
    return [nn.Conv2d(i, o, 3, stride=s, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]


def build_model(num_classes: int) -> nn.Module:
    return nn.Sequential(
        *cbr(3, 64, 1), *cbr(64, 128, 2), *cbr(128, 256, 2), *cbr(256, 512, 2), *cbr(512, 512, 1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes),
    )
