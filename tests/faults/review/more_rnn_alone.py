# F5, a further input: one recurrent layer over the image's 32 rows and a head is a two-layer network, however many
# steps it runs (the autograd walk counted 33).
# expect: too_shallow with 2 weighted layers (ok with min_layers=2)
# parameters: LSTM(96, 64) 256*96 + 256*64 + 2*256 = 41,472; head 64*10+10 = 650 -> 42,122
# MACs at 32x32: 32 steps * (256*96 + 256*64) = 1,310,720; head 640 -> 1,311,360
import torch
from torch import nn


class RowReader(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(96, 64, batch_first=True)
        self.head = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.permute(0, 2, 1, 3).flatten(2)  # (B, 32 rows, 3*32)
        out, _ = self.lstm(rows)
        return self.head(out[:, -1])


def build_model(num_classes: int) -> nn.Module:
    return RowReader(num_classes)
