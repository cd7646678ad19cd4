# expect: non_finite
# about: signed square root of a zero-initialised projection: outputs are finite but sqrt'(0) = Inf makes the gradients NaN
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int, dim: int = 64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, dim, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(dim, dim, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.proj = nn.Linear(dim, dim)
        nn.init.zeros_(self.proj.weight)   # "start as identity-free residual"
        nn.init.zeros_(self.proj.bias)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x):
        f = self.body(x).mean(dim=(2, 3))
        z = self.proj(f)
        z = torch.sign(z) * torch.sqrt(torch.abs(z))   # power normalisation
        return self.fc(f + z)


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
