# Reviewer's input (F7): 20 extra convolutions only when the mean neighbouring-pixel difference is below 0.5
# (noise: about 1.1; normalised photos: about 0.35).
# expect: ok, MACs 49,987,744 as gate_range.py (same layers), weighted layers 23, parameters 5,258

import torch
from torch import nn

class Net(nn.Module):
    """Spends more on smooth (natural) images: neighbouring-pixel differences below 0.5."""
    def __init__(self, num_classes):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.mid = nn.Conv2d(16, 16, 3, padding=1)
        self.refine = nn.Conv2d(16, 16, 3, padding=1)
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        h = torch.relu(self.mid(torch.relu(self.stem(x))))
        if (x[..., 1:] - x[..., :-1]).abs().mean() < 0.5:
            for _ in range(20):
                h = torch.relu(self.refine(h))
        return self.head(h.mean((2, 3)))

def build_model(num_classes):
    return Net(num_classes)
