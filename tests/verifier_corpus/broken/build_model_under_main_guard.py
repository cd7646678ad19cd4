# expect: missing_entrypoint
# about: build_model is defined only inside an if __name__ == "__main__": block, so it is not top-level
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.fc(self.body(x).mean(dim=(2, 3)))


if __name__ == "__main__":

    def build_model(num_classes: int) -> nn.Module:
        return Net(num_classes)

    print(build_model(10)(torch.randn(2, 3, 32, 32)).shape)
