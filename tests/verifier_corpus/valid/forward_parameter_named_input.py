# expect: ok
# about: forward(self, input) adds its parameter named input back (a residual): a parameter that shadows a builtin is not the builtin
import torch
from torch import nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, input):
        return F.relu(self.conv(input)) + input


def build_model(num_classes):
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), Block(8), Block(8), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_classes))
