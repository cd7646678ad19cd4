# expect: backward_error
# about: in-place update (+=) of the output of torch.exp, which autograd saved for backward
import torch
from torch import nn


class ExpGate(nn.Module):
    def forward(self, x):
        g = torch.exp(-x.abs())
        g += 1.0          # in place: modifies the tensor exp saved for its backward
        return x * g


class Net(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), ExpGate(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), ExpGate(),
            nn.Conv2d(64, 64, 3, stride=2, padding=1), ExpGate(),
        )
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.fc(self.body(x).mean(dim=(2, 3)))


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
