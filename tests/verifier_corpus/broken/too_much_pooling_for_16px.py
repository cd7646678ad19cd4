# expect: forward_error
# about: five 2x2 max-pools are fine at 32x32 but shrink a 16x16 input to nothing (output size too small)
# input-shape: 3,16,16
import torch
from torch import nn


def build_model(num_classes: int) -> nn.Module:
    layers = []
    in_ch = 3
    for out_ch in (32, 64, 96, 128, 160):
        layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        in_ch = out_ch
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(in_ch, num_classes))
