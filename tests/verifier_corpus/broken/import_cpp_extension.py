# expect: forbidden_import
# about: from torch.utils.cpp_extension import load_inline to compile a "fast" custom activation
import torch
from torch import nn
from torch.utils.cpp_extension import load_inline

CPP = "torch::Tensor fast_act(torch::Tensor x) { return x.clamp_min(0); }"


class FastAct(nn.Module):
    def forward(self, x):
        return torch.relu(x)


def build_model(num_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), FastAct(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), FastAct(),
        nn.Conv2d(64, 64, 3, stride=2, padding=1), FastAct(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
    )
