# expect: forbidden_import
# about: from timm.models.layers import DropPath, trunc_normal_ (helpers an LLM assumes are available)
import torch
from torch import nn
from timm.models.layers import DropPath, trunc_normal_


class Block(nn.Module):
    def __init__(self, dim: int, drop_path: float):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)
        self.norm = nn.BatchNorm2d(dim)
        self.drop_path = DropPath(drop_path)

    def forward(self, x):
        return x + self.drop_path(torch.relu(self.norm(self.conv(x))))


class Net(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, padding=1)
        self.blocks = nn.Sequential(Block(32, 0.0), Block(32, 0.1))
        self.fc = nn.Linear(32, num_classes)
        trunc_normal_(self.fc.weight, std=0.02)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean(dim=(2, 3)))


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
