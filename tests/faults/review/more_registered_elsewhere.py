# F3, a further input: plain containers that only refer to objects registered elsewhere are fine.
# expect: ok
# parameters: three convs 8*27+8 = 224, 8*72+8 = 584, 584; head 8*10+10 = 90 -> 1,482 (the activations in a plain
# list have none; the tied list holds the registered head weight)
# MACs at 32x32: 8*1024*27 = 221,184; 2 * 8*1024*72 = 1,179,648; head 80 -> 1,400,912; weighted layers 4
import torch
from torch import nn


class Referenced(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1),
                                     nn.Conv2d(8, 8, 3, padding=1)])  # fmt: skip
        self.order = list(self.blocks)
        self.lookup = {"first": self.blocks[0]}
        self.acts = [nn.ReLU(), nn.GELU(), nn.SiLU()]
        self.head = nn.Linear(8, num_classes)
        self.tied = [self.head.weight]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block, act in zip(self.order, self.acts, strict=True):
            x = act(block(x))
        return x.mean((2, 3)) @ self.tied[0].t() + self.head.bias


def build_model(num_classes: int) -> nn.Module:
    return Referenced(num_classes)
