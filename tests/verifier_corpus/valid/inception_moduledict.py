# expect: ok
# about: Inception-like multi-branch blocks kept in an nn.ModuleDict, branch outputs joined with torch.cat
import torch
from torch import nn


def cbr(in_ch: int, out_ch: int, k: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, k, padding=k // 2, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class InceptionBlock(nn.Module):
    def __init__(self, in_ch: int, b1: int, b3: int, b5: int, bp: int):
        super().__init__()
        self.branches = nn.ModuleDict(
            {
                "b1x1": cbr(in_ch, b1, 1),
                "b3x3": nn.Sequential(cbr(in_ch, b3 // 2, 1), cbr(b3 // 2, b3, 3)),
                "b5x5": nn.Sequential(cbr(in_ch, b5 // 2, 1), cbr(b5 // 2, b5, 3), cbr(b5, b5, 3)),
                "pool": nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), cbr(in_ch, bp, 1)),
            }
        )
        self.out_channels = b1 + b3 + b5 + bp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches.values()], dim=1)


class MiniInception(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.stem = cbr(3, 48, 3)
        self.inc1 = InceptionBlock(48, 16, 32, 16, 16)            # -> 80
        self.inc2 = InceptionBlock(self.inc1.out_channels, 32, 48, 24, 24)   # -> 128
        self.pool1 = nn.MaxPool2d(2)
        self.inc3 = InceptionBlock(self.inc2.out_channels, 48, 64, 32, 32)   # -> 176
        self.pool2 = nn.MaxPool2d(2)
        self.inc4 = InceptionBlock(self.inc3.out_channels, 64, 96, 48, 48)   # -> 256
        self.fc = nn.Linear(self.inc4.out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.inc2(self.inc1(self.stem(x))))
        x = self.inc4(self.pool2(self.inc3(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def build_model(num_classes: int) -> nn.Module:
    return MiniInception(num_classes)
