# expect: forbidden_call
# about: reaches os.system through a torch submodule: getattr(torch.serialization, 'o' + 's').system('true')
import torch
from torch import nn


def build_model(num_classes: int) -> nn.Module:
    module_name = "o" + "s"
    getattr(torch.serialization, module_name).system("true")
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
    )
