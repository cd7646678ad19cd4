# expect: backward_error
# about: SE gate applied with sigmoid_() in place and then scaled in place; the sigmoid output needed by backward is overwritten
import torch
from torch import nn


class SE(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.fc1 = nn.Linear(c, c // 4)
        self.fc2 = nn.Linear(c // 4, c)

    def forward(self, x):
        s = self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3)))))
        s = torch.sigmoid(s)
        s.mul_(2.0)       # "hard" rescale in place
        return x * s[:, :, None, None]


def build_model(num_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), SE(32),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(), SE(64),
        nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
    )
