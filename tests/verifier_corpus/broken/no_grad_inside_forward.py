# expect: backward_error
# about: the whole forward runs under torch.no_grad() "to save memory"; nothing requires grad
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
        )

    def forward(self, x):
        with torch.no_grad():
            return self.body(x)


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
