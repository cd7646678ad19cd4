# F7, a further input: more_gate_per_image.py with GELU in place of ReLU in the extra convolutions, which run only
# on photo-like images.
# expect with --parent more_gate_per_image.py: ok (a modification, not not_modified); MACs 1,990,736
# MACs at 32x32: stem 8*1024*27 = 221,184; extra 3 * 8*1024*72 = 1,769,472; head 80
# parameters: stem 224; extra 3 * 584 = 1,752; head 90 -> 2,066
import torch
from torch import nn


class PhotoGate(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.extra = nn.Sequential(*[nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.GELU()) for _ in range(3)])
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
