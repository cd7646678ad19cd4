# F3, a further input: tensors outside parameters() used as weights count in the model size; tensors used
# element-wise do not.
# expect: ok
# parameters: bn 2*16 = 32; conv 32*16*9+32 = 4,640; head 64*10+10 = 650 -> 5,322
# model size: + buffer bank 16*3*3*3 = 432 (a conv2d weight) + plain attribute proj 32*64 = 2,048 (a matmul
# operand) -> 7,802; not counted: pos (added to activations), mask (multiplied into conv.weight, which holds as
# many numbers: 4,608), the batch-norm running statistics
# MACs at 32x32: bank 16*1024*27 = 442,368; conv (stride 2, 16x16) 32*256*144 = 1,179,648; proj 32*64 = 2,048;
# head 64*10 = 640 -> 1,624,704; weighted layers 4 (bank, conv, proj, head)
import torch
import torch.nn.functional as F
from torch import nn


class FixedBank(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("bank", torch.randn(16, 3, 3, 3) / 5)
        self.bn = nn.BatchNorm2d(16)
        self.register_buffer("pos", torch.zeros(1, 16, 32, 32))
        self.conv = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.register_buffer("mask", (torch.rand(32, 16, 3, 3) > 0.2).float())
        self.proj = torch.randn(32, 64) / 8  # a plain tensor attribute, fixed (requires_grad=False)
        self.head = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(F.conv2d(x, self.bank, padding=1)) + self.pos[..., : x.shape[-2], : x.shape[-1]])
        h = torch.relu(F.conv2d(h, self.conv.weight * self.mask, self.conv.bias, stride=2, padding=1))
        return self.head(torch.relu(h.mean((2, 3)) @ self.proj))


def build_model(num_classes: int) -> nn.Module:
    return FixedBank(num_classes)
