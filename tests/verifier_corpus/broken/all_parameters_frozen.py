# expect: backward_error
# about: build_model freezes every parameter (requires_grad_(False)) as if fine-tuning a pretrained backbone, including the head
import torch
from torch import nn


def build_model(num_classes: int) -> nn.Module:
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
    )
    for p in model.parameters():
        p.requires_grad_(False)
    return model
