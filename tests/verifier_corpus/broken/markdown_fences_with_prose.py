# expect: syntax_error
# about: the whole chat answer was saved: prose, a ```python fence, the code, a closing fence and an explanation
Here is the improved model with an extra residual stage:

```python
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, num_classes))

    def forward(self, x):
        return self.head(self.body(x))


def build_model(num_classes: int) -> nn.Module:
    return Net(num_classes)
```

This version keeps the parameter count under 1.5M and should train well on CIFAR-10.
