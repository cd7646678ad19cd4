# expect: not_modified
# about: conv + attention hybrid with classes and attributes renamed and comments moved; same layers and ops as the parent
# parent: ../valid/conv_attention_hybrid.py
import torch
from torch import nn


class PatchStem(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, dim // 2, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(dim // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim // 2, dim, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int = 2, dropout: float = 0.0):
        super().__init__()
        self.ln_attn = nn.LayerNorm(dim)
        self.mhsa = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ln_mlp = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Linear(dim * mlp_ratio, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_attn(x)
        attended, _ = self.mhsa(h, h, h, need_weights=False)
        x = x + attended
        return x + self.ffn(self.ln_mlp(x))


class ConvTransformer(nn.Module):
    def __init__(self, num_classes: int, dim: int = 96, heads: int = 4, depth: int = 2, tokens: int = 64):
        super().__init__()
        self.stem = PatchStem(dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.encoder = nn.ModuleList([EncoderLayer(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # conv stem: (N, 3, 32, 32) -> (N, C, 8, 8)
        x = self.stem(x)
        # tokens: (N, 64, C)
        x = x.flatten(2).transpose(1, 2)
        x = x + self.pos_embed
        for layer in self.encoder:
            x = layer(x)
        x = self.norm(x).mean(dim=1)
        return self.head(x)


def build_model(num_classes: int) -> nn.Module:
    return ConvTransformer(num_classes)
