# Reviewer's input (F8): nn.MultiheadAttention without batch_first=True fed (B, N, C): attention across the batch.
# expect: bad_output_shape naming self.attn and batch_first=True

import torch
from torch import nn

class Net(nn.Module):
    """Tokens are (B, N, C) but the attention was built without batch_first=True."""
    def __init__(self, num_classes):
        super().__init__()
        self.patch = nn.Conv2d(3, 32, 4, stride=4)
        self.attn = nn.MultiheadAttention(32, 4)      # expects (N, B, C)
        self.mlp = nn.Linear(32, 32)
        self.head = nn.Linear(32, num_classes)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)   # (B, 64, 32)
        t = t + self.attn(t, t, t, need_weights=False)[0]  # mixes images of the batch
        return self.head(torch.relu(self.mlp(t)).mean(1))

def build_model(num_classes):
    return Net(num_classes)
