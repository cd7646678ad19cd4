# expect: forbidden_call
# about: a module-level name that shadows open only after a helper captured the builtin (module bodies look names up at run time)
import torch
from torch import nn

_read = open  # still the builtin here
open = None


def build_model(num_classes):
    _read("/etc/hostname").read()
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, num_classes))
