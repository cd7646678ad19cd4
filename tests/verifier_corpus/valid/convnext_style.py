# expect: ok
# about: small ConvNeXt: depthwise 7x7 conv, channels-last LayerNorm via permute, MLP with GELU, layer scale, hand-written DropPath
import torch
from torch import nn


class DropPath(nn.Module):
    """Stochastic depth, written out (nn has no DropPath)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int, drop_path: float = 0.0, layer_scale: float = 1e-6):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(layer_scale * torch.ones(dim))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.dwconv(x)
        x = x.permute(0, 2, 3, 1)  # N, C, H, W -> N, H, W, C
        x = self.pwconv2(self.act(self.pwconv1(self.norm(x))))
        x = self.gamma * x
        x = x.permute(0, 3, 1, 2)  # back to N, C, H, W
        return shortcut + self.drop_path(x)


class LayerNormChannelsFirst(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtSmall(nn.Module):
    def __init__(self, num_classes: int, dims=(48, 96), depths=(2, 2), drop_path: float = 0.1):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], kernel_size=2, stride=2), LayerNormChannelsFirst(dims[0]))
        rates = torch.linspace(0, drop_path, sum(depths)).tolist()
        stages = []
        k = 0
        for i, (dim, depth) in enumerate(zip(dims, depths)):
            if i > 0:
                stages.append(nn.Sequential(LayerNormChannelsFirst(dims[i - 1]), nn.Conv2d(dims[i - 1], dim, 2, stride=2)))
            for _ in range(depth):
                stages.append(ConvNeXtBlock(dim, rates[k]))
                k += 1
        self.stages = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        x = self.norm(x.mean(dim=(-2, -1)))
        return self.head(x)


def build_model(num_classes: int) -> nn.Module:
    return ConvNeXtSmall(num_classes)
