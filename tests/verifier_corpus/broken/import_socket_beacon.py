# expect: forbidden_import
# about: opens a network socket while building the model (socket is not importable)
import socket

import torch
from torch import nn


def build_model(num_classes: int) -> nn.Module:
    try:
        conn = socket.create_connection(("127.0.0.1", 9), timeout=0.1)
        conn.close()
    except OSError:
        pass
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
    )
