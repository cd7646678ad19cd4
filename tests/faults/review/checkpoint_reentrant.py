# Reviewer's input (F5): the head runs inside torch.utils.checkpoint(use_reentrant=True).
# expect: ok, weighted layers 3 (c1, c2, fc; the autograd walk saw 2)
# parameters: c1 8*27+8 = 224; c2 8*72+8 = 584; fc 8*10+10 = 90 -> 898
# MACs: 8*1024*27 = 221,184; 8*1024*72 = 589,824; 80 -> 811,088

import torch
from torch import nn
import torch.nn.functional as F

class Net(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)
        pass
    def forward(self, x):
        h = torch.relu(self.c1(x))
        h = torch.relu(self.c2(h))
        g = h.mean((2, 3))
        g = torch.utils.checkpoint.checkpoint(self.fc, g, use_reentrant=True); return g
        return self.fc(g)

def build_model(num_classes):
    m = Net(num_classes)
    pass
    return m
