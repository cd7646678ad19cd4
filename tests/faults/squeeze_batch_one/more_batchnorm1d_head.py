# A valid model whose head holds a BatchNorm1d: it trains on any batch of two or more images, not
# on a batch of one (batch norm needs more than one value per channel in training).
import torch
from torch import nn


class BatchNormHead(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Sequential(
            nn.Flatten(1), nn.Linear(32, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(nn.functional.adaptive_avg_pool2d(self.body(x), 1))


def build_model(num_classes: int) -> nn.Module:
    return BatchNormHead(num_classes)
