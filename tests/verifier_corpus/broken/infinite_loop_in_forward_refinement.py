# expect: timeout
# about: iterative refinement loop in forward (run without gradients, so memory stays constant) whose step counter is never incremented: while True never breaks, and only the time limit can fire
# timeout: 4
import torch
from torch import nn


class RefineNet(nn.Module):
    def __init__(self, num_classes: int, dim: int = 32, max_steps: int = 4):
        super().__init__()
        self.stem = nn.Conv2d(3, dim, 3, stride=2, padding=1)
        self.refine = nn.Conv2d(dim, dim, 3, padding=1)
        self.head = nn.Conv2d(dim, dim, 3, stride=2, padding=1)
        self.fc = nn.Linear(dim, num_classes)
        self.max_steps = max_steps

    def forward(self, x):
        h = torch.relu(self.stem(x))
        step = 0
        with torch.no_grad():
            while True:
                h = h + 0.1 * torch.tanh(self.refine(h))
                if step >= self.max_steps:
                    break
        return self.fc(torch.relu(self.head(h)).mean(dim=(2, 3)))


def build_model(num_classes: int) -> nn.Module:
    return RefineNet(num_classes)
