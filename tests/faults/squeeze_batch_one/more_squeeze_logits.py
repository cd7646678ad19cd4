# The logits are squeezed at the end "to drop the pooled dimensions": shape (10,) for one image.
import torch
from torch import nn


class SqueezedLogits(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU()
        )
        self.head = nn.Conv2d(32, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.squeeze(self.head(nn.functional.adaptive_avg_pool2d(self.body(x), 1)))


def build_model(num_classes: int) -> nn.Module:
    return SqueezedLogits(num_classes)
