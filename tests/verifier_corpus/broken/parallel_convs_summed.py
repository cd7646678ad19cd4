# expect: too_shallow
# about: three convs applied in PARALLEL to the input and summed, then a linear: 4 weighted layers but the longest path has 2
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int, width: int = 64):
        super().__init__()
        self.branch3 = nn.Conv2d(3, width, 3, padding=1)
        self.branch5 = nn.Conv2d(3, width, 5, padding=2)
        self.branch7 = nn.Conv2d(3, width, 7, padding=3)
        self.bn = nn.BatchNorm2d(width)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.branch3(x) + self.branch5(x) + self.branch7(x)
        x = torch.relu(self.bn(x))
        return self.fc(x.mean(dim=(2, 3)))


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
