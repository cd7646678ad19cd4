# F3, a further input: layers in a plain dict, a parameter in a plain list and a tensor computed from a hidden
# leaf that requires grad; none is registered, so none is trained, moved to the device or counted.
# expect: build_error naming self.stages['a'] (8*27+8 = 224 values), self.stages['b'] (8*72+8 = 584),
# self.scales[0] (8) and self.shift (8), with nn.ModuleDict, nn.ParameterList and nn.Parameter as the fixes
import torch
from torch import nn


class Unregistered(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.stages = {"a": nn.Conv2d(3, 8, 3, padding=1), "b": nn.Conv2d(8, 8, 3, padding=1)}
        self.scales = [nn.Parameter(torch.ones(8))]
        self.shift = torch.zeros(8, requires_grad=True) * 1.0  # not a leaf: its leaf is hidden
        self.mix = nn.Conv2d(8, 8, 1)
        self.head = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.stages["b"](torch.relu(self.stages["a"](x))))
        h = self.mix(h) * self.scales[0].view(1, -1, 1, 1) + self.shift.view(1, -1, 1, 1)
        return self.head(h.mean((2, 3)))


def build_model(num_classes: int) -> nn.Module:
    return Unregistered(num_classes)
