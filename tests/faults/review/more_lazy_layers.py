# F4, a further input: lazy convolution, batch norm and linear layers take their shapes from the first forward.
# expect: ok, and it trains
# parameters: LazyConv2d(3 -> 16) 16*27+16 = 448; LazyBatchNorm2d 2*16 = 32; conv 16*144+16 = 2,320;
# LazyLinear(16 -> 10) 170 -> 2,970
# MACs at 32x32: 16*1024*27 = 442,368; 16*1024*144 = 2,359,296; head 160 -> 2,801,824; weighted layers 3
# at 16x16: 110,592 + 589,824 + 160 = 700,576
from torch import nn


def build_model(num_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.LazyConv2d(16, 3, padding=1), nn.LazyBatchNorm2d(), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LazyLinear(num_classes),
    )  # fmt: skip
