# expect: out_of_memory
# about: bilinear-pooling head sized (C*H*W)**2 = 65536**2 inputs: allocating its Linear weight (~170 GB) fails at build
import torch
from torch import nn


class BilinearHead(nn.Module):
    def __init__(self, channels: int, size: int, num_classes: int):
        super().__init__()
        dim = channels * size * size
        self.fc = nn.Linear(dim * dim, num_classes)

    def forward(self, x):
        f = x.flatten(1)
        outer = torch.einsum("ni,nj->nij", f, f).flatten(1)
        return self.fc(outer)


def build_model(num_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        BilinearHead(64, 32, num_classes),
    )
