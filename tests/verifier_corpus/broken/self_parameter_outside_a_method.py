# expect: forbidden_call
# about: a plain function whose first parameter is named self, called with a module, reaches torch.os through self.os
import torch
from torch import nn


def _platform(self):
    return self.os.uname().sysname


def build_model(num_classes):
    _platform(torch)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, num_classes))
