"""``fairnad verify`` as a user types it: what was counted, per operator family, and what was not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.timeout(300)

FAULTS = Path(__file__).resolve().parent / "faults"
MHA = FAULTS / "mha_fastpath_macs" / "model.py"
# generous: the limit is for the model's own checks, far above their work here, so no race
LIMIT = ("--timeout", "120")

SPECTRAL = """\
import torch
from torch import nn


class SpectralMix(nn.Module):
    def forward(self, x):
        return torch.fft.ifft2(torch.fft.fft2(x)).real


def build_model(num_classes):
    return nn.Sequential(nn.Conv2d(3, 8, 3), SpectralMix(), nn.Conv2d(8, 8, 3), nn.Conv2d(8, 8, 3),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_classes))
"""

# 3x16x16 input: conv 3->64 at 16x16 (64*3*9*256 = 442,368), then 64->64 at 16x16 three times
# (64*64*9*256 = 9,437,184 each, 28,311,552), then 64->128 stride 2 to 8x8 (128*64*9*64 = 4,718,592),
# then 128->128 at 8x8 twice (128*128*9*64 = 9,437,184 each, 18,874,368), head 128*10 = 1,280:
# 52,348,160 MACs, over the 50 M budget that applies below 32x32 and under the 200 M of 32x32.
OVER_50M_AT_16 = """\
from torch import nn


def build_model(num_classes):
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(64, 128, 3, stride=2, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(128, 128, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(128, 128, 3, padding=1, bias=False), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, num_classes, bias=False),
    )
"""


def test_json_report_carries_the_breakdown_which_adds_up_to_the_total():
    result = run_cli("verify", str(MHA), "--json", "--input-shape", "3,32,32", "--num-classes", "10", *LIMIT)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)  # exactly one JSON value on stdout
    # expected.md, by hand: patch conv 196,608; in-projection 786,432 + out-projection 262,144 + MLP
    # 1,048,576 + head 640 = 2,097,792 linear; QK^T 262,144 + AV 262,144 = 524,288 attention
    assert report["flops"] == 2_818_688
    assert report["macs_by_operator"] == {"conv": 196_608, "linear": 2_097_792, "attention": 524_288}
    assert report["uncounted_ops"] == []


def test_text_report_prints_exact_totals_and_one_line_per_operator_family():
    result = run_cli("verify", str(MHA), "--input-shape", "3,32,32", *LIMIT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "params 37,258, MACs 2,818,688 (2.82M) per image" in result.stdout
    lines = [line for line in result.stdout.splitlines() if line.startswith("MACs by operator:")]
    assert lines == ["MACs by operator: linear 2,097,792, attention 524,288, conv 196,608"], result.stdout


def test_an_operator_outside_the_convention_is_named_not_silently_zero(tmp_path):
    path = tmp_path / "spectral.py"
    path.write_text(SPECTRAL)
    text = run_cli("verify", str(path), *LIMIT)
    assert text.returncode == 0, text.stdout + text.stderr
    assert "not counted: aten._fft_c2c" in text.stdout and "lower bound" in text.stdout
    report = json.loads(run_cli("verify", str(path), "--json", *LIMIT).stdout)
    assert report["ok"] and "aten._fft_c2c" in report["uncounted_ops"]
    assert "aten._fft_c2c" in report["message"]
    assert report["flops"] == sum(report["macs_by_operator"].values())


def test_default_flops_budget_follows_the_input_size(tmp_path):
    path = tmp_path / "wide16.py"
    path.write_text(OVER_50M_AT_16)
    small = json.loads(run_cli("verify", str(path), "--json", "--input-shape", "3,16,16", *LIMIT).stdout)
    assert small["code"] == "over_flops_budget" and small["flops"] == 52_348_160, small
    assert "budget 50.000M" in small["message"]
    flag = json.loads(run_cli("verify", str(path), "--json", "--input-shape", "3,16,16", "--max-flops", "60M",
                              *LIMIT).stdout)  # fmt: skip
    assert flag["ok"], flag
