# expect: forbidden_import
# about: imports os to read an environment variable that sets the width
import os

import torch
from torch import nn


def build_model(num_classes: int) -> nn.Module:
    width = int(os.environ.get("MODEL_WIDTH", "32"))
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, num_classes),
    )
