"""Measurement of models: the one place that counts parameters and FLOPs.

FLOPs in FairNAD are multiply-accumulates (MACs) for one image, the unit the paper's
budgets use (0.2 G at 32x32). ``torch.utils.flop_counter`` counts 2 FLOPs per
multiply-accumulate, so its total is halved here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def warm_up() -> None:
    """Do the FLOP counter's lazy imports (about 800 modules) now, on the meta device.

    Meta tensors run no kernels, so no intra-op thread pool starts (safe before fork), and
    no file is touched later, when candidate code runs under the sandbox guard.
    """
    layer = nn.Conv2d(3, 4, 3, device="meta")
    with FlopCounterMode(display=False):
        layer(torch.zeros(1, 3, 8, 8, device="meta"))


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass on a single image of ``input_shape`` (C, H, W)."""
    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(1, *input_shape)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
        return int(counter.get_total_flops() // 2)
    finally:
        model.train(was_training)
