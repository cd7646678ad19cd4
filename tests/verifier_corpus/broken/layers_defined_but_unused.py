# expect: too_shallow
# about: __init__ defines a deep stack, but forward only uses the first conv and the head (2 weighted layers run)
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(64, 128, 3, stride=2, padding=1)
        self.conv4 = nn.Conv2d(128, 128, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        # TODO: conv2-conv4
        return self.fc(self.pool(x).flatten(1))


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
