"""Issue 8, kinds 1 and 5, second round (a new user's inputs, tests/faults/review2/): products
written as broadcast multiplications, products on the weights alone (once per forward pass, not
per image), compute that depends on contrast or on the batch size, ``F.affine_grid``, and a batch
size written as a constant that only the training batch reveals. Hand-worked values are in each
file's header."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from fairnad_tools.measure import MacCounter, count_macs, measure_macs
from fairnad_tools.verify import verify_file

REVIEW = Path(__file__).resolve().parent / "faults" / "review2"
GENEROUS = 60  # seconds: far above the work, so no verdict depends on the machine's speed


@pytest.mark.parametrize(
    ("name", "params", "macs", "layers", "by_operator", "weight_only"),
    [
        # a 256x256 orthogonal layer: base @ matrix_exp(A) (16.8 M) is per forward pass, not per image
        ("ortho_head.py", 117_770, 854_528, 3, {"conv": 786_432, "linear": 68_096}, 16_777_216),
        # weight norm, spectral norm (power iteration on the weight), orthogonal
        ("param_wn.py", 3_236, 2_802_080, 4, {"conv": 2_801_664, "linear": 416}, 6_416),
        ("more_weight_only.py", 3_946, 99_648, 3, {"conv": 98_304, "linear": 1_344}, 65_866),
        # qkv, QK^T and AV as (a * b).sum(): 49,152 + 8,192 + 8,192
        ("bcast_attn.py", 9_578, 164_160, 3, {"conv": 98_304, "linear": 320, "outer_product": 65_536}, 0),
        ("more_outer_products.py", 6_202, 63_136, 3, {"conv": 49_152, "linear": 5_280, "outer_product": 8_704}, 0),
        # gates: high contrast, low contrast, batches of several images take the expensive path
        ("contrast_gate.py", 3_210, 3_063_968, 4, {"conv": 3_063_808, "linear": 160}, 0),
        ("more_low_contrast_gate.py", 3_210, 3_063_968, 4, {"conv": 3_063_808, "linear": 160}, 0),
        ("batch_path.py", 3_210, 3_063_968, 3, {"conv": 3_063_808, "linear": 160}, 0),
        # affine_grid is a batched product: theta (1, 2, 3) on 1,024 positions = 6,144
        ("stn_complex.py", 1_722, 246_212, 5, {"conv": 239_616, "linear": 452, "matmul": 6_144}, 0),
    ],
)
def test_inputs_measured_as_worked_by_hand(name, params, macs, layers, by_operator, weight_only):
    report = verify_file(REVIEW / name, timeout_s=GENEROUS)
    assert report.ok, report.message
    assert (report.params, report.flops, report.weighted_layers) == (params, macs, layers)
    assert report.macs_by_operator == by_operator and report.uncounted_ops == []
    assert report.weight_only_macs == weight_only


@pytest.mark.parametrize("name", ["batch_cap8.py", "more_batch_view.py"])
def test_a_batch_size_written_as_a_constant_fails_at_the_training_batch(name):
    small = verify_file(REVIEW / name, input_shape=(3, 16, 16), timeout_s=GENEROUS)
    assert small.ok, small.message  # batches of 1, 2 and 4 run
    report = verify_file(REVIEW / name, input_shape=(3, 16, 16), train_batch=65, timeout_s=GENEROUS)
    assert report.code == "forward_error", report.message
    assert "a training batch of 65 images" in report.message and "never write the batch size" in report.message


def test_the_verifier_role_checks_the_largest_batch_training_runs():
    from agents.verifier import _largest_training_batch
    from graph.settings import FairNADSettings

    settings = FairNADSettings()
    assert settings.data.dataset == "digits" and settings.train.batch_size is None
    assert _largest_training_batch(settings) == 64 + 1  # digits' default batch, a folded last image
    settings.train.batch_size = 256
    assert _largest_training_batch(settings) == 257


def test_elementwise_products_stay_free():
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad(), MacCounter() as counter:
        x * torch.randn(2, 16, 1, 1)  # a channel scale
        x * torch.randn(2, 1, 8, 8)  # a spatial gate
        x * 0.5
        x * x
    assert counter.result().total == 0
    with torch.no_grad(), MacCounter() as counter:
        torch.randn(2, 16, 1, 1) * torch.randn(2, 1, 8, 8)  # rank-1: an outer product
    assert counter.result().by_operator == {"outer_product": 2 * 16 * 64}


class _Rebuilt(nn.Module):
    """Breaks the link to its input (numbers through Python) before a product on a weight."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(64, 64))
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cut = torch.tensor(x.flatten(1)[:, :64].tolist())
        return self.head(cut @ self.w)


class _Hidden(nn.Module):
    """A tensor made inside forward (a recurrent state sized by the batch) times a weight: per image."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(32, 32))
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state = torch.ones(x.shape[0], 32) @ self.w
        return self.head(state + x.flatten(1)[:, :32])


def test_a_model_that_cuts_the_link_to_its_input_is_counted_whole():
    count = measure_macs(_Rebuilt(), (1, 8, 8))
    assert count.total == 64 * 64 + 640 and count.weight_only == 0


def test_tensors_made_inside_forward_count_per_image():
    assert count_macs(_Hidden(), (1, 8, 8)) == 32 * 32 + 320


def test_a_model_that_runs_only_on_single_images_is_still_measured():
    class Single(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(16, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x.view(1, 16))

    assert count_macs(Single(), (1, 4, 4)) == 160


def test_verify_cli_checks_the_training_batch_and_reports_weight_only_products():
    import json

    from tests.conftest import run_cli

    cap = str(REVIEW / "batch_cap8.py")
    rejected = run_cli("verify", cap, "--json", "--input-shape", "3,16,16", "--batch-size", "64")
    assert rejected.returncode == 1 and json.loads(rejected.stdout)["code"] == "forward_error"
    assert "a training batch of 65 images" in json.loads(rejected.stdout)["message"]
    passed = run_cli("verify", cap, "--json", "--input-shape", "3,16,16", "--batch-size", "0")
    assert passed.returncode == 0, passed.stdout
    ortho = run_cli("verify", str(REVIEW / "ortho_head.py"))
    assert ortho.returncode == 0 and "plus 16,777,216 MACs on the weights alone" in ortho.stdout
    assert (
        json.loads(run_cli("verify", str(REVIEW / "ortho_head.py"), "--json").stdout)["weight_only_macs"] == 16_777_216
    )
