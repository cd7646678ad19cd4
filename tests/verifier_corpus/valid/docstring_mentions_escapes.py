# expect: ok
# about: a module docstring mentions __import__ and eval; docstrings are never executed
"""A small CNN. Note: no __import__ or eval tricks are used here."""
import torch
from torch import nn


def build_model(num_classes):
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 8), nn.Linear(8, num_classes))
