# F7, a further input: each image on its own takes three extra convolutions only when it looks like a photo (values
# within +-2.5 and neighbouring pixels close); noise images skip them, the smooth sample images do not.
# expect: ok, MACs 1,990,736 (cheap path: 221,264), weighted layers 5; over_flops_budget under a 1 M budget
# MACs at 32x32: stem 8*1024*27 = 221,184; extra 3 * 8*1024*72 = 1,769,472; head 80
# parameters: stem 224; extra 3 * 584 = 1,752; head 90 -> 2,066
import torch
from torch import nn


class PhotoGate(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.extra = nn.Sequential(*[nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()) for _ in range(3)])
        self.head = nn.Linear(8, num_classes)

    def looks_like_a_photo(self, image: torch.Tensor) -> bool:
        smooth = (image[..., 1:] - image[..., :-1]).abs().mean() < 0.6
        return bool(smooth and image.abs().amax() < 2.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = []
        for image in x:  # every image on its own: the output never depends on the batch
            h = torch.relu(self.stem(image.unsqueeze(0)))
            if self.looks_like_a_photo(image):
                h = self.extra(h)
            out.append(self.head(h.mean((2, 3))))
        return torch.cat(out)


def build_model(num_classes: int) -> nn.Module:
    return PhotoGate(num_classes)
