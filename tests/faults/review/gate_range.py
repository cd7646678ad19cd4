# Reviewer's input (F7): 20 extra convolutions only when x.amax() < 3.0 (a normalised photo; noise peaks near 4).
# expect: ok, MACs 49,987,744 (the smooth sample images take the expensive path), weighted layers 23
# MACs: stem 16*1024*27 = 442,368; mid 16*1024*144 = 2,359,296; refine 20 * 2,359,296 = 47,185,920; head 160
# (the cheap path: 2,801,824); parameters 448 + 2,320 + 2,320 + 170 = 5,258

import torch
from torch import nn

class Net(nn.Module):
    """Refines only images whose pixel range looks like a normalised photo (max below 3)."""
    def __init__(self, num_classes):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.refine = nn.Conv2d(16, 16, 3, padding=1)
        self.mid = nn.Conv2d(16, 16, 3, padding=1)
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        h = torch.relu(self.mid(torch.relu(self.stem(x))))
        if x.amax() < 3.0:
            for _ in range(20):
                h = torch.relu(self.refine(h))
        return self.head(h.mean((2, 3)))

def build_model(num_classes):
    return Net(num_classes)
