"""Training child process: ``python -m fairnad_tools.train.worker --job train_job.json``.

SGD with Nesterov momentum, cosine learning-rate decay to zero, label-preserving
augmentation (random crop with padding; horizontal flip where it preserves labels), the
whole dataset kept on the device as uint8 and augmented there. Writes ``metrics.json``
(atomically) whether training succeeds or fails; logs one line per epoch.

No training batch holds a single image: when the training set leaves one image over after
the full batches, it joins the last full batch (see :func:`batch_bounds`), because a valid
model may not train on one image (batch norm: "Expected more than 1 value per channel").

Before the model is measured and the optimizer built, one dry forward pass on a batch of the
real data (eval mode, no_grad, on the device) gives lazy modules (``nn.LazyLinear``, ...) their
shapes (:func:`materialise`); the parameters logged are the model size the verifier reports
(:func:`fairnad_tools.measure.model_size`, on the same sample images).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import traceback
from pathlib import Path

import torch
from torch import nn

from fairnad_tools.data import DataError, dataset_info, load_dataset
from fairnad_tools.io import atomic_write_json
from fairnad_tools.isolation.guard import install_guard, load_candidate
from fairnad_tools.measure import model_size
from fairnad_tools.train.job import TrainJob
from fairnad_tools.train.result import TrainResult, file_sha256


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _device(requested: str) -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA GPU is visible; use 'auto' or 'cpu'")
    if requested in ("cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def augment(x: torch.Tensor, pad: int, hflip: bool, gen: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding (and random horizontal flip), batched on x's device."""
    b, _, h, w = x.shape
    padded = nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen, device="cpu").to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen, device="cpu").to(x.device)
    rows = (torch.arange(h, device=x.device)[None, :] + dy[:, None])[:, :, None]  # (b, h, 1)
    cols = (torch.arange(w, device=x.device)[None, :] + dx[:, None])[:, None, :]  # (b, 1, w)
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)
    if hflip:
        flip = (torch.rand(b, generator=gen) < 0.5).to(x.device)[:, None, None, None]
        out = torch.where(flip, out.flip(3), out)
    return out


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) of each training batch over ``n`` shuffled images.

    ``ceil(n / batch_size)`` batches of ``batch_size``, the last one shorter, except that a last
    batch of one image is folded into the batch before it (which then holds ``batch_size + 1``):
    batch norm cannot normalise over one value per channel, and a trainer must not fail a model
    the verifier accepted. Raises ``ValueError`` for ``batch_size < 1``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1 (got {batch_size})")
    bounds = [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


@torch.no_grad()
def materialise(model: nn.Module, batch: torch.Tensor) -> None:
    """One forward pass on ``batch`` in eval mode under no_grad, restoring the training mode.

    Lazy modules take their shapes from it, so counting parameters and building the optimizer
    afterwards see every parameter ("Attempted to use an uninitialized parameter" otherwise);
    eval mode leaves batch-norm statistics untouched.
    """
    was_training = model.training
    model.eval()
    try:
        model(batch)
    finally:
        model.train(was_training)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm, batch: int) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        logits = model(norm(x[i : i + batch]))
        correct += (logits.argmax(1) == y[i : i + batch]).sum().item()
    return correct / max(1, len(x))


def train(job: TrainJob) -> TrainResult:
    start = time.monotonic()
    torch.manual_seed(job.seed)
    if job.threads:
        torch.set_num_threads(job.threads)
    device = _device(job.device)
    info = dataset_info(job.dataset)
    data = load_dataset(job.dataset, job.data_dir)
    train_x, train_y = data.train_x.to(device), data.train_y.to(device)
    mean = train_x.float().mean(dim=(0, 2, 3), keepdim=True) / 255
    std = train_x.float().std(dim=(0, 2, 3), keepdim=True) / 255 + 1e-6

    def norm(batch: torch.Tensor) -> torch.Tensor:
        return (batch.float() / 255 - mean) / std

    # the header comes before any candidate code runs, so a log cut for size still starts with it
    log(f"candidate {job.candidate_id}: {job.dataset} on {device}, {job.epochs} epochs, batch {job.batch_size}")
    readable = [job.model_path.parent] + ([job.data_dir] if job.data_dir else [])
    # candidate code runs from here on; Landlock only on the CPU (CUDA writes caches of its own)
    install_guard(read=readable, write=[job.out_dir], kernel=device.type == "cpu")
    model = load_candidate(job.model_path, info.num_classes).to(device)
    materialise(model, norm(train_x[: min(len(train_x), job.batch_size)]))
    size = model_size(model, info.input_shape)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=job.lr,
        momentum=job.momentum,
        nesterov=job.momentum > 0,
        weight_decay=job.weight_decay,
    )
    bounds = batch_bounds(len(train_x), job.batch_size)
    steps_per_epoch = len(bounds)
    total = job.epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    )
    gen = torch.Generator().manual_seed(job.seed)
    pad = max(1, info.input_shape[1] // 8)
    log(
        f"candidate {job.candidate_id}: {size.total:,} parameters"
        + (
            f" ({sum(size.stored_weights.values()):,} of them in buffers used as weights)"
            if size.stored_weights
            else ""
        )
    )
    history = []
    loss_value, train_acc = float("nan"), 0.0
    for epoch in range(1, job.epochs + 1):
        model.train()
        order = torch.randperm(len(train_x), generator=gen).to(device)
        total_loss, correct, seen = 0.0, 0, 0
        epoch_start = time.monotonic()
        for step, (begin, end) in enumerate(bounds):
            idx = order[begin:end]
            xb = norm(augment(train_x[idx], pad, info.hflip, gen))
            yb = train_y[idx]
            logits = model(xb)
            loss = nn.functional.cross_entropy(logits, yb)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"diverged: non-finite loss ({loss.item()}) at epoch {epoch}, step {step + 1}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
            seen += len(idx)
        loss_value, train_acc = total_loss / seen, correct / seen
        history.append(
            {
                "epoch": epoch,
                "loss": round(loss_value, 5),
                "train_acc": round(train_acc, 5),
                "seconds": round(time.monotonic() - epoch_start, 3),
            }
        )
        log(
            f"epoch {epoch}/{job.epochs} loss {loss_value:.4f} train_acc {train_acc:.4f} "
            f"lr {schedule.get_last_lr()[0]:.4f} ({history[-1]['seconds']:.1f} s)"
        )
    eval_batch = max(job.batch_size, 256)
    val_acc = evaluate(model, data.valid_x.to(device), data.valid_y.to(device), norm, eval_batch)
    test_acc = None
    if data.test_x is not None:
        test_acc = evaluate(model, data.test_x.to(device), data.test_y.to(device), norm, eval_batch)
    log(f"val_acc {val_acc:.4f} test_acc {test_acc if test_acc is None else round(test_acc, 4)}")
    return TrainResult(
        candidate_id=job.candidate_id,
        status="trained",
        val_acc=val_acc,
        test_acc=test_acc,
        train_acc=train_acc,
        train_loss=loss_value,
        epochs=job.epochs,
        device=str(device),
        seconds=round(time.monotonic() - start, 2),
        model_sha256=file_sha256(job.model_path),
        history=history,
    )


def _failure(job: TrainJob, reason: str, start: float) -> TrainResult:
    return TrainResult(
        candidate_id=job.candidate_id,
        status="failed",
        reason=reason,
        seconds=round(time.monotonic() - start, 2),
        model_sha256=file_sha256(job.model_path),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fairnad_tools.train.worker")
    parser.add_argument("--job", required=True, type=Path)
    args = parser.parse_args(argv)
    job = TrainJob.model_validate(json.loads(args.job.read_text()))
    start = time.monotonic()
    try:
        result = train(job)
    except FloatingPointError as exc:
        result = _failure(job, str(exc), start)
    except DataError as exc:
        result = _failure(job, f"data: {exc}", start)
    except (MemoryError, torch.OutOfMemoryError) as exc:
        result = _failure(job, f"out_of_memory: {str(exc)[:300]}", start)
    except Exception as exc:  # noqa: BLE001 - a broken candidate is a result, not a crash
        traceback.print_exc()
        text = str(exc)
        kind = "out_of_memory" if "out of memory" in text.lower() else "error"
        result = _failure(job, f"{kind}: {type(exc).__name__}: {text[:500]}", start)
    if result.status == "failed":
        log(f"failed: {result.reason}")
    atomic_write_json(job.metrics_path, result.model_dump(mode="json"))
    os.sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
