# expect: build_error
# about: nn.MultiheadAttention(embed_dim=100, num_heads=8): embed_dim must be divisible by num_heads
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int, dim: int = 100):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dim, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(dim, dim, 3, stride=2, padding=1))
        self.attn = nn.MultiheadAttention(dim, num_heads=8, batch_first=True)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x):
        t = self.stem(x).flatten(2).transpose(1, 2)
        t, _ = self.attn(t, t, t)
        return self.fc(t.mean(dim=1))


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
