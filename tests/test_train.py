"""Datasets and the training tool (real training on CPU, in a child process)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from fairnad_tools.data import DataError, check_dataset, load_dataset
from fairnad_tools.train import TrainJob, train_candidate

TINY = """import torch
from torch import nn


def build_model(num_classes):
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes))
"""


def job(tmp_path: Path, source: str, **kw) -> TrainJob:
    folder = tmp_path / "cand"
    folder.mkdir(exist_ok=True)
    (folder / "model.py").write_text(source)
    defaults = dict(
        candidate_id="0001",
        model_path=folder / "model.py",
        out_dir=folder,
        dataset="digits",
        epochs=3,
        batch_size=64,
        lr=0.05,
        device="cpu",
        time_limit_s=120,
    )
    return TrainJob(**{**defaults, **kw})


def test_digits_split_is_fixed_and_served_as_3x16x16():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert tuple(a.train_x.shape) == (1000, 3, 16, 16) and len(a.valid_x) == 400 and len(a.test_x) == 397
    assert (a.valid_y == b.valid_y).all() and (a.train_x == b.train_x).all()
    assert (a.train_x[:, 0] == a.train_x[:, 2]).all()  # grey channel repeated


def test_training_gives_real_metrics_and_is_idempotent(tmp_path):
    j = job(tmp_path, TINY)
    result = train_candidate(j)
    assert result.status == "trained", result.reason
    assert 0.3 < result.val_acc <= 1 and 0 <= result.test_acc <= 1
    assert len(result.history) == 3 and result.history[-1]["loss"] < result.history[0]["loss"]
    log = j.log_path.read_text()
    assert "epoch 3/3" in log and "val_acc" in log
    again = train_candidate(j)
    assert again.reused and again.val_acc == result.val_acc
    j.model_path.write_text(TINY.replace("8, 3", "12, 3").replace("(8)", "(12)").replace("Conv2d(8,", "Conv2d(12,"))
    assert not train_candidate(j).reused  # a changed model.py is trained anew


def test_divergence_is_a_failed_candidate(tmp_path):
    source = TINY.replace("nn.Linear(16, num_classes))", "nn.Linear(16, num_classes), Nan())")
    source += "\n\nclass Nan(nn.Module):\n    def forward(self, x):\n        return x * float('nan')\n"
    result = train_candidate(job(tmp_path, source))
    assert result.status == "failed" and result.reason.startswith("diverged")


def test_time_limit_is_a_failed_candidate(tmp_path):
    source = TINY.replace(
        "def build_model(num_classes):", "def build_model(num_classes):\n    import time\n    time.sleep(60)"
    )
    result = train_candidate(job(tmp_path, source, time_limit_s=3))
    assert result.status == "failed" and result.reason.startswith("timeout")


def test_cuda_requested_without_gpu_fails_clearly(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = train_candidate(job(tmp_path, TINY, device="cuda"))
    assert result.status == "failed" and "no CUDA GPU" in result.reason


def _fake_cifar10(root: Path, per_batch: int = 20) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"labels": [i % 10 for i in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(batch))


def test_cifar_from_a_local_folder_with_nas_bench_201_splits(tmp_path):
    _fake_cifar10(tmp_path)
    splits = load_dataset("cifar10", tmp_path)
    assert len(splits.train_x) == 50 and len(splits.valid_x) == 50 and len(splits.test_x) == 20  # halves
    assert tuple(splits.train_x.shape[1:]) == (3, 32, 32)


def test_missing_or_malformed_cifar_folder_names_the_files(tmp_path):
    with pytest.raises(DataError, match="needs --data-dir"):
        check_dataset("cifar10", None)
    with pytest.raises(DataError, match="does not exist"):
        check_dataset("cifar100", tmp_path / "nowhere")
    with pytest.raises(DataError, match="data_batch_1"):
        check_dataset("cifar10", tmp_path)
    _fake_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"garbage")
    with pytest.raises(DataError, match="data_batch_3 is not a CIFAR batch"):
        load_dataset("cifar10", tmp_path)
