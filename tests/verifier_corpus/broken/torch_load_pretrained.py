# expect: forbidden_call
# about: loads "pretrained" weights with torch.load inside build_model
import torch
from torch import nn


def build_model(num_classes: int) -> nn.Module:
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
    )
    try:
        state = torch.load("checkpoints/best.pth", map_location="cpu")
        model.load_state_dict(state, strict=False)
    except FileNotFoundError:
        pass
    return model
