# expect: build_error
# about: build_model passes n_classes= but the constructor's parameter is num_classes (TypeError)
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int, width: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        return self.fc(self.body(x).mean(dim=(2, 3)))


def build_model(num_classes: int) -> nn.Module:
    return Net(n_classes=num_classes, width=32)
