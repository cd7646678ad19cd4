# F9, a further input: nested, sparse, complex and quantized tensors in forward, each image on its own.
# expect: ok; parameters 898 (as nested.py); MACs 811,088 + the sparse product 8 stored values * 1 column = 811,096;
# weighted layers 3 (the sparse matrix is built in forward, a constant, not a weight)
import torch
from torch import nn


class TensorTypes(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = torch.relu(self.c2(torch.relu(self.c1(x)))).mean((2, 3))  # (B, 8)
        nested = torch.nested.nested_tensor([row[: 4 + i % 4] for i, row in enumerate(g)])
        g = g + 0.0 * nested.to_padded_tensor(0.0, (g.shape[0], 8))
        g = torch.sparse.mm(torch.eye(8).to_sparse(), g.t()).t()
        g = torch.view_as_real(torch.complex(g, -g))[..., 0]
        g = torch.quantize_per_tensor(g, 0.01, 0, torch.qint8).dequantize()
        return self.fc(g)


def build_model(num_classes: int) -> nn.Module:
    return TensorTypes(num_classes)
