# F8, a further input: nn.TransformerEncoderLayer without batch_first=True fed (B, N, C) attends across the batch.
# expect: bad_output_shape naming self.encoder and batch_first=True
import torch
from torch import nn


class Tokens(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 32, 4, stride=4)
        self.encoder = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0)
        self.head = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.patch(x).flatten(2).transpose(1, 2)  # (B, 64, 32)
        return self.head(self.encoder(t).mean(1))


def build_model(num_classes: int) -> nn.Module:
    return Tokens(num_classes)
