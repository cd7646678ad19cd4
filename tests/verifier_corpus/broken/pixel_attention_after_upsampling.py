# expect: out_of_memory
# about: hand-written self-attention over every pixel of a 256x256 upsampled map: the (2, 4, 65536, 65536) score tensor (~137 GB) cannot be allocated
import math

import torch
from torch import nn
import torch.nn.functional as F


class PixelAttention(nn.Module):
    def __init__(self, dim: int, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Conv2d(dim, 3 * dim, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x):
        n, c, h, w = x.shape
        q, k, v = self.qkv(x).reshape(n, 3, self.heads, c // self.heads, h * w).unbind(1)
        scores = q.transpose(-2, -1) @ k / math.sqrt(c // self.heads)   # (N, heads, HW, HW)
        out = (scores.softmax(dim=-1) @ v.transpose(-2, -1)).transpose(-2, -1).reshape(n, c, h, w)
        return x + self.proj(out)


class Net(nn.Module):
    def __init__(self, num_classes: int, dim: int = 32):
        super().__init__()
        self.stem = nn.Conv2d(3, dim, 3, padding=1)
        self.attn = PixelAttention(dim)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = F.interpolate(x, size=(256, 256), mode="nearest")
        x = self.attn(torch.relu(self.stem(x)))
        return self.fc(x.mean(dim=(2, 3)))


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
