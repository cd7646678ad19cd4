# F8, a further input: features centred on the batch mean, in eval mode too: an image's logits depend on the others.
# expect: bad_output_shape naming a reduction over the batch dimension (x.mean(0))
import torch
from torch import nn


class BatchCentred(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x).mean((2, 3))
        return self.head(h - h.mean(0, keepdim=True))


def build_model(num_classes: int) -> nn.Module:
    return BatchCentred(num_classes)
