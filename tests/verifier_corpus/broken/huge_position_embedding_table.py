# expect: over_param_budget
# about: hybrid net whose position-embedding table is sized for 224x224 pixels (50176 x 64 = 3.2M parameters) though only 64 tokens are used
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int, dim: int = 64, max_positions: int = 224 * 224):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, dim, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(dim, dim, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.pos = nn.Embedding(max_positions, dim)
        self.attn = nn.MultiheadAttention(dim, 4, batch_first=True)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x):
        t = self.stem(x).flatten(2).transpose(1, 2)
        t = t + self.pos(torch.arange(t.shape[1], device=t.device))
        t, _ = self.attn(t, t, t)
        return self.fc(t.mean(dim=1))


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
