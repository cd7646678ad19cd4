# expect: forward_error
# about: .view() on a transposed (non-contiguous) token tensor instead of .reshape(); RuntimeError in forward
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int, dim: int = 64):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, dim, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(dim, dim, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.norm = nn.LayerNorm(dim)
        self.mix = nn.Linear(dim, dim)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.stem(x)
        n, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)       # (N, HW, C), non-contiguous
        flat = tokens.view(n * h * w, c)             # needs .reshape()
        flat = flat + self.mix(self.norm(flat))
        return self.fc(flat.view(n, h * w, c).mean(dim=1))


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
