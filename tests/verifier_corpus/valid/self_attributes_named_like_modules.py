# expect: ok
# about: attributes of self named like modules (self.types, self.platform) hold plain data, not modules
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.types = ["conv", "conv"]          # block types
        self.platform = "cpu"
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        return self.fc(torch.relu(self.c2(torch.relu(self.c1(x)))).mean((2, 3)))


def build_model(num_classes):
    return Net(num_classes)
