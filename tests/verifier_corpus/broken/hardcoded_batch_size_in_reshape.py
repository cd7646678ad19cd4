# expect: forward_error
# about: reshape with a hard-coded batch size of 1 (x.view(1, -1)) before the classifier
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        )
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.features(x).view(1, -1)
        return self.fc(x)


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
