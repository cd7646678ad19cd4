# expect: ok
# about: functional style: weights are nn.Parameter tensors on one module, forward uses F.conv2d / F.group_norm / F.linear
import math

import torch
import torch.nn.functional as F
from torch import nn


class FunctionalConvNet(nn.Module):
    def __init__(self, num_classes: int, widths=(32, 64, 128), groups: int = 8):
        super().__init__()
        self.groups = groups
        self.weights = nn.ParameterList()
        self.scales = nn.ParameterList()
        self.shifts = nn.ParameterList()
        in_ch = 3
        for w in widths:
            weight = torch.empty(w, in_ch, 3, 3)
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
            self.weights.append(nn.Parameter(weight))
            self.scales.append(nn.Parameter(torch.ones(w)))
            self.shifts.append(nn.Parameter(torch.zeros(w)))
            in_ch = w
        bound = 1.0 / math.sqrt(in_ch)
        self.fc_weight = nn.Parameter(torch.empty(num_classes, in_ch).uniform_(-bound, bound))
        self.fc_bias = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for w, g, b in zip(self.weights, self.scales, self.shifts):
            x = F.conv2d(x, w, stride=1, padding=1)
            x = F.group_norm(x, self.groups, weight=g, bias=b)
            x = F.max_pool2d(F.relu(x), 2)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return F.linear(x, self.fc_weight, self.fc_bias)


def build_model(num_classes: int) -> nn.Module:
    return FunctionalConvNet(num_classes)
