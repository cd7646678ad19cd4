# expect: timeout
# about: build_model searches for a width under the budget but grows the width instead of shrinking it: the loop never ends
# timeout: 4
import torch
from torch import nn

PARAM_BUDGET = 1_000_000


def conv_params(width: int) -> int:
    return 3 * width * 9 + 2 * (width * width * 9) + width * 10


def build_model(num_classes: int) -> nn.Module:
    width = 512
    while conv_params(width) > PARAM_BUDGET:
        width += 8          # should be width -= 8
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes),
    )
