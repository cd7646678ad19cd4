# expect: forbidden_import
# about: imports torch.distributed to pick SyncBatchNorm when a process group is initialised
import torch
import torch.distributed as dist
from torch import nn


def build_model(num_classes: int) -> nn.Module:
    norm = nn.SyncBatchNorm if dist.is_available() and dist.is_initialized() else nn.BatchNorm2d
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), norm(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), norm(64), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=2, padding=1), norm(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
    )
