# expect: forward_error
# about: multi-branch block concatenates a stride-2 branch with a stride-1 branch (spatial sizes differ in torch.cat)
import torch
from torch import nn


class TwoBranch(nn.Module):
    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.branches = nn.ModuleDict({
            "fine": nn.Conv2d(in_ch, out_ch // 2, 3, padding=1),
            "coarse": nn.Conv2d(in_ch, out_ch // 2, 3, stride=2, padding=1),
        })

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches.values()], dim=1)


def build_model(num_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
        TwoBranch(32, 64), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
    )
