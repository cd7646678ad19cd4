# expect: forward_error
# about: stage 2 expects 64 input channels but stage 1 outputs 48 (channel mismatch between blocks)
import torch
from torch import nn


def stage(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(),
        nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(),
    )


class Net(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.stage1 = stage(3, 48)
        self.stage2 = stage(64, 128)
        self.stage3 = stage(128, 128)
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.fc(x.mean(dim=(2, 3)))


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
