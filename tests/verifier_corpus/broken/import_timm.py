# expect: forbidden_import
# about: imports timm for a pretrained backbone (third-party package outside the allowlist)
import torch
from torch import nn
import timm


class TimmWrapper(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.backbone = timm.create_model("resnet18", pretrained=False, num_classes=0)
        self.head = nn.Linear(self.backbone.num_features, num_classes)

    def forward(self, x):
        return self.head(self.backbone(x))


def build_model(num_classes: int) -> nn.Module:
    return TimmWrapper(num_classes)
