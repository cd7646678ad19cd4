# expect: syntax_error
# about: output cut off inside a class docstring: unterminated triple-quoted string
import torch
from torch import nn


class Net(nn.Module):
    """A small residual network.

    Stage widths are 32, 64 and 128; each stage halves the spatial
    resolution with a strided convolution and
