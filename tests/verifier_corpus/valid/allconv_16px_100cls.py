# expect: ok
# about: all-convolutional net (strided convs, 1x1 conv classifier, global average pool) for 16x16 inputs and 100 classes
# input-shape: 3,16,16
# num-classes: 100
import torch
from torch import nn


class AllConvNet(nn.Module):
    def __init__(self, num_classes: int, width: int = 64):
        super().__init__()

        def block(i: int, o: int, s: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(i, o, 3, stride=s, padding=1, bias=False), nn.BatchNorm2d(o), nn.LeakyReLU(0.1)]

        self.net = nn.Sequential(
            *block(3, width),
            *block(width, width),
            *block(width, 2 * width, s=2),
            *block(2 * width, 2 * width),
            *block(2 * width, 2 * width, s=2),
            nn.Conv2d(2 * width, num_classes, kernel_size=1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_model(num_classes: int) -> nn.Module:
    return AllConvNet(num_classes)
