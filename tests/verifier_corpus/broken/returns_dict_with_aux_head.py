# expect: bad_output_shape
# about: forward returns a dict {"logits": ..., "aux": ...} like a detection/aux-head model
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.stage1 = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU())
        self.stage2 = nn.Sequential(nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.ReLU())
        self.aux = nn.Linear(64, num_classes)
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x):
        h1 = self.stage1(x)
        h2 = self.stage2(h1)
        return {"logits": self.fc(h2.mean(dim=(2, 3))), "aux": self.aux(h1.mean(dim=(2, 3)))}


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
