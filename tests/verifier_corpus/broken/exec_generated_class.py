# expect: forbidden_call
# about: generates the block class as source text and exec()s it
import torch
from torch import nn

BLOCK_SRC = """
class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
    def forward(self, x):
        return x + torch.relu(self.conv(x))
"""

namespace = {"nn": nn, "torch": torch}
exec(BLOCK_SRC, namespace)
Block = namespace["Block"]


def build_model(num_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), Block(32), Block(32),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes),
    )
