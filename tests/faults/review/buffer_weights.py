# Reviewer's input (F3): a fixed 1024x3072 projection kept as a buffer, used as x.flatten(1) @ self.proj.t().
# expect: over_param_budget (budget 1.5 M)
# parameters: fc1 1024*64+64 = 65,600; fc2 64*64+64 = 4,160; head 64*10+10 = 650 -> 70,410
# model size: 70,410 + buffer proj 1024*3072 = 3,145,728 -> 3,216,138
# MACs: proj 3,145,728; fc1 65,536; fc2 4,096; head 640 -> 3,216,000; weighted layers 4

import torch
from torch import nn

class Net(nn.Module):
    """A fixed random-feature projection (3072 -> 1024) kept as a buffer: 3,145,728 weights."""
    def __init__(self, num_classes):
        super().__init__()
        self.register_buffer("proj", torch.randn(1024, 3072) / 3072 ** 0.5)
        self.fc1 = nn.Linear(1024, 64)
        self.fc2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, num_classes)

    def forward(self, x):
        h = torch.relu(x.flatten(1) @ self.proj.t())
        h = torch.relu(self.fc1(h))
        h = torch.relu(self.fc2(h))
        return self.head(h)

def build_model(num_classes):
    return Net(num_classes)
