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
