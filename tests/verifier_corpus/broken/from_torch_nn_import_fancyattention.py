# expect: build_error
# about: from torch.nn import FancyAttention: a hallucinated class, ImportError when the module is imported
import torch
from torch import nn
from torch.nn import FancyAttention


class Net(nn.Module):
    def __init__(self, num_classes: int, dim: int = 64):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dim, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(dim, dim, 3, stride=2, padding=1))
        self.attn = FancyAttention(dim, num_heads=4)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x):
        t = self.stem(x).flatten(2).transpose(1, 2)
        return self.fc(self.attn(t).mean(dim=1))


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
