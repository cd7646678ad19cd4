# expect: non_finite
# about: per-map standardisation applied after global pooling: std over a 1x1 map is NaN (0 / 0)
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        f = self.pool(self.body(x))                                   # (N, 64, 1, 1)
        f = (f - f.mean(dim=(2, 3), keepdim=True)) / f.std(dim=(2, 3), keepdim=True)
        return self.fc(f.flatten(1))


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
