# expect: not_modified
# about: VGGSmall with docstrings, comments and different line layout only; the architecture is the parent's
# parent: ../valid/vgg_small.py
"""Improved VGG-style network for CIFAR.

Changes: better documentation of every stage.
"""
import torch
from torch import nn


def conv_bn_relu(in_ch: int, out_ch: int) -> nn.Sequential:
    """3x3 convolution, batch norm and ReLU."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU())


class VGGSmall(nn.Module):
    """Three stages of two convolutions each, then global pooling and a linear classifier."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        # stage 1: 32x32, 32 channels
        # stage 2: 16x16, 64 channels
        # stage 3: 8x8, 128 channels
        self.features = nn.Sequential(
            conv_bn_relu(3, 32), conv_bn_relu(32, 32), nn.MaxPool2d(2),
            conv_bn_relu(32, 64), conv_bn_relu(64, 64), nn.MaxPool2d(2),
            conv_bn_relu(64, 128), conv_bn_relu(128, 128), nn.MaxPool2d(2),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)  # global average pooling
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.2),  # regularisation
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # features -> pool -> classifier
        return self.classifier(self.pool(self.features(x)))


def build_model(num_classes: int) -> nn.Module:
    """Entry point used by the trainer."""
    return VGGSmall(num_classes=num_classes)
