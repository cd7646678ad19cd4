# expect: forbidden_import
# about: imports importlib to load a module by name at run time
import importlib

import torch
from torch import nn


def build_model(num_classes: int) -> nn.Module:
    layers = importlib.import_module("torch.nn")
    return layers.Sequential(
        layers.Conv2d(3, 32, 3, padding=1), layers.ReLU(),
        layers.Conv2d(32, 64, 3, stride=2, padding=1), layers.ReLU(),
        layers.Conv2d(64, 64, 3, stride=2, padding=1), layers.ReLU(),
        layers.AdaptiveAvgPool2d(1), layers.Flatten(), layers.Linear(64, num_classes),
    )
