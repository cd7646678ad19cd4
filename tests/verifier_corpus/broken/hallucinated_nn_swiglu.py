# expect: build_error
# about: hallucinated nn.SwiGLU activation module (does not exist in torch.nn)
import torch
from torch import nn


class MLPBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.act = nn.SwiGLU()
        self.fc2 = nn.Linear(dim, dim)

    def forward(self, x):
        return x + self.fc2(self.act(self.fc1(x)))


class Net(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, stride=2, padding=1))
        self.mlp = MLPBlock(64)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.stem(x).mean(dim=(2, 3))
        return self.fc(self.mlp(x))


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
