# expect: timeout
# about: a recurrent conv cell unrolled for 10,000,000 steps in forward with truncated backpropagation (the state is detached each step, so memory stays constant and only the time limit can fire): finite, but far too slow
# timeout: 4
import torch
from torch import nn


class RecurrentConvNet(nn.Module):
    def __init__(self, num_classes: int, dim: int = 16, steps: int = 10_000_000):
        super().__init__()
        self.stem = nn.Conv2d(3, dim, 3, padding=1)
        self.cell = nn.Conv2d(dim, dim, 3, padding=1)
        self.out = nn.Conv2d(dim, dim, 3, stride=2, padding=1)
        self.fc = nn.Linear(dim, num_classes)
        self.steps = steps

    def forward(self, x):
        h = torch.relu(self.stem(x))
        for _ in range(self.steps):
            h = torch.relu(self.cell(h.detach())) + h.detach() * 0.5
        return self.fc(torch.relu(self.out(h)).mean(dim=(2, 3)))


def build_model(num_classes: int) -> nn.Module:
    return RecurrentConvNet(num_classes)
