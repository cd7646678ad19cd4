# F5, a further input: a GRU cell stepped by hand over 8 rows counts once, as nn.GRU does (the hidden state carried
# from step to step adds no depth; the autograd walk counted 8).
# expect: ok, weighted layers 3 (patch, cell, head)
# parameters: patch 16*48+16 = 784; GRUCell(16, 32) 96*16 + 96*32 + 2*96 = 4,800; head 32*10+10 = 330 -> 5,914
# MACs at 32x32: patch 16*64*48 = 49,152; cell 8 steps * (96*16 + 96*32) = 36,864; head 320 -> 86,336
import torch
from torch import nn


class CellLoop(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 4, stride=4)
        self.cell = nn.GRUCell(16, 32)
        self.head = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = torch.relu(self.patch(x)).mean(3).transpose(1, 2)  # (B, 8 rows, 16)
        state = rows.new_zeros(rows.shape[0], 32)
        for step in range(rows.shape[1]):
            state = self.cell(rows[:, step], state)
        return self.head(state)


def build_model(num_classes: int) -> nn.Module:
    return CellLoop(num_classes)
