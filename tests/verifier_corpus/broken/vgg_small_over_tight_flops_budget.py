# expect: over_flops_budget
# about: a sound VGG-style net (~39M MACs) checked against a tighter 20M MAC budget
# max-flops: 20M
import torch
from torch import nn


def build_model(num_classes: int) -> nn.Module:
    def cbr(i, o):
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]

    return nn.Sequential(
        *cbr(3, 32), *cbr(32, 32), nn.MaxPool2d(2),
        *cbr(32, 64), *cbr(64, 64), nn.MaxPool2d(2),
        *cbr(64, 128), *cbr(128, 128), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, num_classes),
    )
