# Reviewer's input (F3): nn.Linear layers in a plain list and a raw torch.randn(..., requires_grad=True).
# expect: build_error naming self.blocks[0] (3072*512+512 = 1,573,376 values), self.blocks[1] (512*512+512 =
# 262,656) and self.table (512*512 = 262,144), with nn.ModuleList and nn.Parameter as the fix
# (parameters() sees only fc 32,832 + fc2 4,160 + head 650 = 37,642; the real size is 2,135,818)

import torch
from torch import nn

class Net(nn.Module):
    """Layers kept in a plain Python list (not nn.ModuleList) and a raw tensor attribute."""
    def __init__(self, num_classes):
        super().__init__()
        self.blocks = [nn.Linear(3072, 512), nn.Linear(512, 512)]   # not registered
        self.table = torch.randn(512, 512, requires_grad=True)       # not registered
        self.fc = nn.Linear(512, 64)
        self.fc2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, num_classes)

    def forward(self, x):
        h = x.flatten(1)
        for blk in self.blocks:
            h = torch.relu(blk(h))
        h = torch.relu(h @ self.table)
        return self.head(torch.relu(self.fc2(torch.relu(self.fc(h)))))

def build_model(num_classes):
    return Net(num_classes)
