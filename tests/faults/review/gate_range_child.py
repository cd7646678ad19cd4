# Reviewer's input (F7): gate_range.py with the refinement changed (GELU and a residual) behind the gate.
# expect with --parent gate_range.py: ok (a modification, not not_modified); MACs 49,987,744 (GELU and the sum
# count zero), parameters 5,258

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
                h = torch.nn.functional.gelu(self.refine(h)) + h
        return self.head(h.mean((2, 3)))

def build_model(num_classes):
    return Net(num_classes)
