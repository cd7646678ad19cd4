# expect: forward_error
# about: conv feature map (N, C, H, W) passed straight to nn.MultiheadAttention(batch_first=True), which expects (N, L, E)
import torch
from torch import nn


class ConvAttnNet(nn.Module):
    def __init__(self, num_classes: int, dim: int = 64):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, dim, 3, stride=2, padding=1), nn.BatchNorm2d(dim), nn.ReLU(),
            nn.Conv2d(dim, dim, 3, stride=2, padding=1), nn.BatchNorm2d(dim), nn.ReLU(),
        )
        self.attn = nn.MultiheadAttention(dim, num_heads=4, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.stem(x)                 # (N, 64, 8, 8)
        x, _ = self.attn(x, x, x)        # forgot x.flatten(2).transpose(1, 2)
        x = self.norm(x.mean(dim=1))
        return self.fc(x)


def build_model(num_classes: int) -> nn.Module:
    return ConvAttnNet(num_classes)
