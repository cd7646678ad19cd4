# F5, a further input: layers the autograd graph hides (a frozen stem, blocks under checkpoint in both modes, a
# linear layer inside a custom autograd.Function) are on the path all the same.
# expect: ok, weighted layers 5 (stem, block, block, Function, head)
# parameters: stem 8*27+8 = 224; two blocks 8*72+8 = 584 each; w 16*8 = 128; head 16*10+10 = 170 -> 1,690
# MACs at 32x32 (stem stride 2, 16x16): stem 8*256*27 = 55,296; blocks 2 * 8*256*72 = 294,912; w 8*16 = 128;
# head 16*10 = 160 -> 350,496
import torch
import torch.utils.checkpoint
from torch import nn


class StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, w)
        return x @ w.t()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        x, w = ctx.saved_tensors
        return grad @ w, grad.t() @ x


class Hidden(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1).requires_grad_(False)
        self.block1 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.w = nn.Parameter(torch.randn(16, 8) * 0.3)
        self.head = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.stem(x))
        h = torch.utils.checkpoint.checkpoint(self.block1, h, use_reentrant=False)
        h = torch.utils.checkpoint.checkpoint(self.block2, h, use_reentrant=True)
        h = torch.relu(StraightThrough.apply(h.mean((2, 3)), self.w))
        return self.head(h)


def build_model(num_classes: int) -> nn.Module:
    return Hidden(num_classes)
