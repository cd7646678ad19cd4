# expect: non_finite
# about: logits divided by a learnable temperature initialised to 0.0 (x / 0 gives Inf/NaN)
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.fc = nn.Linear(64, num_classes)
        self.temperature = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.fc(self.body(x)) / self.temperature


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
