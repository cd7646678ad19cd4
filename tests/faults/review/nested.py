# Reviewer's input (F9): a nested tensor in forward (the verifier's own recorder called .shape on it).
# expect: ok; parameters 898, MACs 811,088 (nested_tensor and to_padded_tensor count zero), weighted layers 3

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
        nt = torch.nested.nested_tensor([g[0], g[0, :4]]); _ = nt.to_padded_tensor(0.0)
        return self.fc(g)

def build_model(num_classes):
    m = Net(num_classes)
    pass
    return m
