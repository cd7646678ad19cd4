# Reviewer's input (F4): nn.LazyLinear, which failed in training ("uninitialized parameter") after passing verify.
# expect: ok, and it trains
# parameters: conv 16*27+16 = 448; conv 16*144+16 = 2,320; LazyLinear(16 -> 32) 16*32+32 = 544; Linear 32*10+10 = 330
# -> 3,642
# MACs at 32x32: 16*1024*27 = 442,368; 16*1024*144 = 2,359,296; 16*32 = 512; 32*10 = 320 -> 2,802,496
# at 16x16: 110,592 + 589,824 + 512 + 320 = 701,248; weighted layers 4

import torch
from torch import nn

def build_model(num_classes):
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LazyLinear(32), nn.ReLU(), nn.Linear(32, num_classes))
