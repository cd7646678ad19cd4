# expect: forward_error
# about: hallucinated F.gelu_fast called only inside forward (the model builds, the forward pass raises)
import torch
from torch import nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(64, 64, 3, stride=2, padding=1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.gelu_fast(self.conv1(x))
        x = F.gelu_fast(self.conv2(x))
        x = F.gelu_fast(self.conv3(x))
        return self.fc(x.mean(dim=(2, 3)))


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
