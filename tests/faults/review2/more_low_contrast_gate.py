"""A gate on contrast and a gate on batch size: both expensive paths must be counted.

Flat images (per-image spread below 0.5) take an extra 3x3 conv 16->16 at 32x32: 2,359,296 MACs.
c1 3->16 3x3: 442,368; c3 1x1 16->16: 262,144; head 160.
Cheap path 704,672; flat path 3,063,968 MACs (the count: the costliest path).
Parameters: c1 448, c2 2,320, c3 272, head 170 = 3,210.
"""

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 16, 3, padding=1)
        self.c3 = nn.Conv2d(16, 16, 1)
        self.head = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for img in x.split(1):
            h = torch.relu(self.c1(img))
            if img.std() < 0.5:
                h = torch.relu(self.c2(h))
            outs.append(self.head(self.c3(h).mean((2, 3))))
        return torch.cat(outs)


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
