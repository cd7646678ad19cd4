# Raw-parameter layers reached through view chains: a batch-expanded weight in torch.bmm, a
# transposed weight in torch.matmul, a reshaped flat weight in F.linear, torch.tensordot, and a
# head written as x @ W.T. Weighted layers on the path from input to output: 6
# (patch conv, bmm, matmul, linear, tensordot, head).
#
# MACs per 3x32x32 image, by hand (64 tokens, dim 32):
#   patch conv                   32 * 8 * 8 * 3 * 4 * 4   =  98,304
#   bmm with w1 expanded         64 * 32 * 32             =  65,536
#   matmul with w2.t()           64 * 32 * 32             =  65,536
#   F.linear, w3 reshaped        64 * 32 * 32             =  65,536
#   tensordot with w4            64 * 32 * 32             =  65,536
#   head x @ W.T                 32 * 10                  =     320
#   total                                                 = 360,768
# Parameters: conv 1,568 + 4 * 1,024 + head 320 = 5,984
import torch
from torch import nn
from torch.nn import functional as F


class ViewChains(nn.Module):
    def __init__(self, num_classes: int, dim: int = 32) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, dim, kernel_size=4, stride=4)
        self.w1 = nn.Parameter(torch.randn(dim, dim) / dim**0.5)
        self.w2 = nn.Parameter(torch.randn(dim, dim) / dim**0.5)
        self.w3 = nn.Parameter(torch.randn(dim * dim) / dim**0.5)  # stored flat
        self.w4 = nn.Parameter(torch.randn(dim, dim) / dim**0.5)
        self.head_w = nn.Parameter(torch.randn(num_classes, dim) / dim**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.patch(x).flatten(2).transpose(1, 2)  # (b, 64, dim)
        b, _, d = t.shape
        t = torch.relu(torch.bmm(t, self.w1.unsqueeze(0).expand(b, -1, -1)))
        t = torch.relu(torch.matmul(t, self.w2.t()))
        t = torch.relu(F.linear(t, self.w3.reshape(d, d)))
        t = torch.relu(torch.tensordot(t, self.w4, dims=([2], [0])))
        return t.mean(dim=1) @ self.head_w.T


def build_model(num_classes: int) -> nn.Module:
    return ViewChains(num_classes)
