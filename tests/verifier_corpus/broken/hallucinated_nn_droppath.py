# expect: build_error
# about: hallucinated nn.DropPath (stochastic depth lives in timm/torchvision, not torch.nn)
import torch
from torch import nn


class ResBlock(nn.Module):
    def __init__(self, c: int, drop: float):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.drop_path = nn.DropPath(drop)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.drop_path(self.bn2(self.conv2(out))))


def build_model(num_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), ResBlock(32, 0.05), ResBlock(32, 0.1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes),
    )
