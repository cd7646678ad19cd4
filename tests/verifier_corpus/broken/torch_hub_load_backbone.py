# expect: forbidden_call
# about: torch.hub.load of a pretrained backbone with a new linear head
import torch
from torch import nn


class HubNet(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.backbone = torch.hub.load("pytorch/vision", "resnet18", weights=None)
        self.backbone.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        return self.backbone(x)


def build_model(num_classes: int) -> nn.Module:
    return HubNet(num_classes)
