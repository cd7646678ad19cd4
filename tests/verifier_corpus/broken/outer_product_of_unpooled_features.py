# expect: out_of_memory
# about: second-order pooling on unpooled features: the (2, 65536, 65536) outer product (~34 GB) fails in forward
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        )
        self.fc = nn.Linear(64 * 32 * 32, num_classes)

    def forward(self, x):
        f = self.body(x).flatten(1)                        # (N, 65536)
        second_order = f.unsqueeze(2) * f.unsqueeze(1)     # (N, 65536, 65536)
        return self.fc(second_order.mean(dim=2))


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
