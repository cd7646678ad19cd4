# works for batches of up to 8 images (a per-sample scale buffer sized for 8), fails at the
# training batch (64 for digits, 256 for CIFAR): "The size of tensor a (64) must match ... (8)"
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)
        self.register_buffer("sample_scale", torch.ones(8, 1, 1, 1))
    def forward(self, x):
        x = x * self.sample_scale[: x.shape[0]]
        x = torch.relu(self.c2(torch.relu(self.c1(x))))
        return self.fc(x.mean((2, 3)))

def build_model(num_classes):
    return Net(num_classes)
