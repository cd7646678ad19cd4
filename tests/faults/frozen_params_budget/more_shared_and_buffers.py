# One 3x3 convolution applied three times (its weights shared, counted once), a frozen stem
# (counted: frozen weights are still model size) and a large buffer (a fixed table: not a parameter).
#   stem conv 3 -> 32, 3x3 (frozen): 864 + 32            =   896
#   shared conv 32 -> 32, 3x3: 9,216 + 32                 = 9,248 (once, although used 3 times)
#   head 32 -> 10: 320 + 10                               =   330
#   parameters                                            = 10,474
#   buffer: 2,097,152 values, not counted
# MACs per 3x32x32 image: stem 32 * 1024 * 27 = 884,736; shared conv 3 * 32 * 1024 * 288 = 28,311,552;
# head 320; total 29,196,608.
import torch
from torch import nn


class SharedNet(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, padding=1)
        self.stem.requires_grad_(False)
        self.shared = nn.Conv2d(32, 32, 3, padding=1)
        self.head = nn.Linear(32, num_classes)
        self.register_buffer("table", torch.ones(2_097_152))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.stem(x)) * self.table[:32].view(1, 32, 1, 1)
        for _ in range(3):
            h = torch.relu(self.shared(h))
        return self.head(h.mean(dim=(2, 3)))


def build_model(num_classes: int) -> nn.Module:
    return SharedNet(num_classes)
