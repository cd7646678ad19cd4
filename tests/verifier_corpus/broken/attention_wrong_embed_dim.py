# expect: forward_error
# about: tokens have 64 features (conv channels) but nn.MultiheadAttention was built with embed_dim=128
import torch
from torch import nn


class HybridNet(nn.Module):
    def __init__(self, num_classes: int, channels: int = 64, embed_dim: int = 128):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.attn = nn.MultiheadAttention(embed_dim, num_heads=4, batch_first=True)
        self.fc = nn.Linear(embed_dim, num_classes)

    def forward(self, x):
        tokens = self.stem(x).flatten(2).transpose(1, 2)   # (N, 64, 64)
        tokens, _ = self.attn(tokens, tokens, tokens)
        return self.fc(tokens.mean(dim=1))


def build_model(num_classes: int) -> nn.Module:
    return HybridNet(num_classes)
