# expect: ok
# about: early-exit head whose logits are held in a local variable named exit (shadows the builtin, never calls it)
import torch
from torch import nn


class EarlyExitNet(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.exit_head = nn.Linear(8, num_classes)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        h = torch.relu(self.c1(x))
        exit = self.exit_head(h.mean((2, 3)))
        h = torch.relu(self.c2(h))
        return 0.5 * (exit + self.fc(h.mean((2, 3))))


def build_model(num_classes):
    return EarlyExitNet(num_classes)
