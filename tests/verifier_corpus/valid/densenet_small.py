# expect: ok
# about: DenseNet-BC style: bottleneck dense layers whose outputs are concatenated (torch.cat), transitions with compression
import torch
import torch.nn.functional as F
from torch import nn


class DenseLayer(nn.Module):
    def __init__(self, in_ch: int, growth: int, bn_size: int = 4):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, bn_size * growth, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(bn_size * growth)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([x, out], dim=1)


class Transition(nn.Module):
    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_ch)
        self.conv = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class DenseNetSmall(nn.Module):
    def __init__(self, num_classes: int, growth: int = 12, layers_per_block=(6, 6, 6), compression: float = 0.5):
        super().__init__()
        channels = 2 * growth
        self.conv0 = nn.Conv2d(3, channels, 3, padding=1, bias=False)
        blocks = []
        for i, n in enumerate(layers_per_block):
            for _ in range(n):
                blocks.append(DenseLayer(channels, growth))
                channels += growth
            if i != len(layers_per_block) - 1:
                out_ch = int(channels * compression)
                blocks.append(Transition(channels, out_ch))
                channels = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(channels)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.conv0(x))
        x = F.relu(self.bn(x))
        x = F.adaptive_avg_pool2d(x, (1, 1)).view(x.size(0), -1)
        return self.fc(x)


def build_model(num_classes: int) -> nn.Module:
    return DenseNetSmall(num_classes)
