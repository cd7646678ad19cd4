# expect: forbidden_call
# about: sandbox escape through ().__class__.__bases__[0].__subclasses__() to find a class with os access
import torch
from torch import nn


def _find(name: str):
    for cls in ().__class__.__bases__[0].__subclasses__():
        if cls.__name__ == name:
            return cls
    return None


def build_model(num_classes: int) -> nn.Module:
    _find("catch_warnings")
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
    )
