# expect: not_modified
# about: ResNet-20 with classes, attributes and arguments renamed only (BasicBlock -> ResidualUnit, conv1 -> conv_a, ...)
# parent: ../valid/resnet20.py
import torch
import torch.nn as nn
import torch.nn.functional as F


class ResidualUnit(nn.Module):
    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv_a = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.norm_a = nn.BatchNorm2d(channels)
        self.conv_b = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
        self.norm_b = nn.BatchNorm2d(channels)
        self.skip = nn.Sequential()
        if stride != 1 or in_channels != channels:
            self.skip = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(channels),
            )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm_a(self.conv_a(inputs)))
        y = self.norm_b(self.conv_b(y))
        y = y + self.skip(inputs)
        return F.relu(y)


class CifarResNet(nn.Module):
    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.width = 16
        self.stem_conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.stem_norm = nn.BatchNorm2d(16)
        self.stage1 = self._stage(16, 3, stride=1)
        self.stage2 = self._stage(32, 3, stride=2)
        self.stage3 = self._stage(64, 3, stride=2)
        self.classifier = nn.Linear(64, n_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def _stage(self, channels: int, n_units: int, stride: int) -> nn.Sequential:
        units = []
        for s in [stride] + [1] * (n_units - 1):
            units.append(ResidualUnit(self.width, channels, s))
            self.width = channels
        return nn.Sequential(*units)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.stem_norm(self.stem_conv(images)))
        h = self.stage1(h)
        h = self.stage2(h)
        h = self.stage3(h)
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.classifier(h)


def build_model(num_classes: int) -> nn.Module:
    return CifarResNet(num_classes)
