# Reviewer's input (F5): the first two convolutions are frozen (requires_grad=False); they are layers all the same.
# expect: ok, weighted layers 4 (c1, c2, c3, head; the autograd walk saw 2)
# parameters: c1 16*27+16 = 448; c2, c3 16*144+16 = 2,320 each; head 16*10+10 = 170 -> 5,258
# MACs: 16*1024*27 = 442,368; 2 * 16*1024*144 = 4,718,592; head 160 -> 5,161,120

import torch
from torch import nn

class Net(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 16, 3, padding=1)
        self.c3 = nn.Conv2d(16, 16, 3, padding=1)
        for m in (self.c1, self.c2):          # a fixed (frozen) stem
            m.requires_grad_(False)
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        h = torch.relu(self.c1(x))
        h = torch.relu(self.c2(h))
        h = torch.relu(self.c3(h))
        return self.head(h.mean((2, 3)))

def build_model(num_classes):
    return Net(num_classes)
