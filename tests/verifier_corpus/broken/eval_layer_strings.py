# expect: forbidden_call
# about: builds layers by eval() of strings taken from a config list
import torch
from torch import nn

LAYERS = [
    "nn.Conv2d(3, 32, 3, padding=1)", "nn.ReLU()",
    "nn.Conv2d(32, 64, 3, stride=2, padding=1)", "nn.ReLU()",
    "nn.Conv2d(64, 64, 3, stride=2, padding=1)", "nn.ReLU()",
    "nn.AdaptiveAvgPool2d(1)", "nn.Flatten()",
]


def build_model(num_classes: int) -> nn.Module:
    layers = [eval(spec) for spec in LAYERS]
    return nn.Sequential(*layers, nn.Linear(64, num_classes))
