# expect: too_shallow
# about: flatten the raw image into a two-layer MLP (3072 -> 256 -> classes): two weighted layers
import torch
from torch import nn


def build_model(num_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(3 * 32 * 32, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, num_classes),
    )
