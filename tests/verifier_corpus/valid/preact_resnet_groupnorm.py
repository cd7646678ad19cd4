# expect: ok
# about: pre-activation ResNet with GroupNorm and Mish, identity shortcuts padded with zeros for new channels (option A)
import torch
import torch.nn.functional as F
from torch import nn


class PreActBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, groups: int = 8):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.stride = stride
        self.extra = out_ch - in_ch

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra > 0:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.mish(self.norm1(x)))
        out = self.conv2(F.mish(self.norm2(out)))
        return out + self.shortcut(x)


class PreActResNet(nn.Module):
    def __init__(self, num_classes: int, widths=(16, 32, 64), depth: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(3, widths[0], 3, padding=1, bias=False)
        blocks = []
        in_ch = widths[0]
        for i, w in enumerate(widths):
            for j in range(depth):
                blocks.append(PreActBlock(in_ch, w, stride=2 if i > 0 and j == 0 else 1))
                in_ch = w
        self.blocks = nn.Sequential(*blocks)
        self.norm = nn.GroupNorm(8, in_ch)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.conv(x))
        x = F.mish(self.norm(x))
        return self.fc(x.mean(dim=(2, 3)))


def build_model(num_classes: int) -> nn.Module:
    return PreActResNet(num_classes)
