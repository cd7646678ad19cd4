"""Verifier child process: builds and exercises one candidate file, prints a JSON result.

Run as ``python -m fairnad_tools.verify.worker ARGS``; never imported by the main
process. Limits (CPU time, address space) are set after ``import torch`` so the
import itself is not broken by them. The result is written to ``--result``.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from fairnad_tools.io import atomic_write_json
from fairnad_tools.isolation.guard import MARK, install_guard, load_candidate
from fairnad_tools.measure import (
    Measurement,
    measure,
    model_device_dtype,
    sample_images,
    unregistered_state,
    warm_up,
)


def _set_limits(memory_mb: int, cpu_seconds: int) -> None:
    """CPU seconds and memory the checks may use from now on (not what the imports already took).

    RLIMIT_CPU counts the process's whole CPU time, so the limit is set above what this process
    has used so far: a fresh interpreter has spent seconds importing torch, a forked child none.
    """
    if cpu_seconds > 0:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        spent = int(usage.ru_utime + usage.ru_stime) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (spent + cpu_seconds, spent + cpu_seconds + 1))
    if memory_mb > 0:
        current = _vm_size_bytes()
        limit = current + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _vm_size_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError | torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "cannot allocate" in text


def _where(exc: BaseException, filename: str) -> str:
    """The innermost frame of the candidate file, for messages an LLM can act on."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    if not frames:
        return ""
    frame = frames[-1]
    return f" ({Path(filename).name} line {frame.lineno}, in {frame.name}: {frame.line})"


def probe(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[Measurement, str]:
    """MACs, model size and depth (:func:`fairnad_tools.measure.measure`) and the structure
    signature, from the same passes.

    The signature hashes the multiset of parameter shapes and the sequences of tensor
    operations (with output shapes) of the forward passes on the sample images (noise and smooth
    normalised images, one at a time, eval mode, fused fast path off), not on one all-zero image:
    a change inside a branch that a gate takes only on some inputs changes the signature.
    Renames and comments change nothing.
    """
    measured = measure(model, input_shape, record_ops=True)
    params = sorted(str(tuple(p.shape)) for p in model.parameters())
    blob = "\n".join(params) + "\n--\n" + "\n".join(measured.ops)
    return measured, hashlib.sha256(blob.encode()).hexdigest()[:16]


def signature(model: nn.Module, input_shape: tuple[int, ...]) -> str:
    """The structure signature of :func:`probe` (compared with the parent's for ``not_modified``)."""
    return probe(model, input_shape)[1]


class Progress:
    """Which check is running, so an exception can be reported with the right code and a hint."""

    stage = "build_error"
    hint = ""


def _shape_text(batch: int, input_shape: tuple[int, ...]) -> str:
    return f"({batch}, {', '.join(map(str, input_shape))})"


_KEEP_BATCH = (
    "the batch dimension must survive every reshape: use x.flatten(1) or torch.flatten(x, 1) (not .squeeze(), "
    ".view(-1), .reshape(-1) or torch.flatten(x)), and never write the batch size as a constant"
)


@contextmanager
def _evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode under no_grad (as evaluation and inference run the model); the mode is restored."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _single_image_output(model: nn.Module, input_shape: tuple[int, ...]) -> object:
    """The model's output for one image in eval mode (as evaluation and inference run it)."""
    with _evaluating(model):
        return model(sample_images(input_shape, 1))


def _check_single_image(
    model: nn.Module, input_shape: tuple[int, ...], num_classes: int, progress: Progress
) -> dict | None:
    """A batch of one image must give logits of shape (1, num_classes); a failure report otherwise."""
    progress.hint = (
        f" (a single image, input shape {_shape_text(1, input_shape)}, eval mode; a batch of 2 ran: {_KEEP_BATCH})"
    )
    out = _single_image_output(model, input_shape)
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else None
    if shape == (1, num_classes):
        return None
    if shape == (num_classes,):
        cause = "the batch dimension was dropped, most likely by .squeeze() (or .view(-1)) before the classifier"
    elif shape is None:
        cause = f"forward returned {type(out).__name__}"
    else:
        cause = "the output depends on the batch size (a reshape mixes the batch with other dimensions)"
    return {
        "code": "bad_output_shape",
        "message": f"output shape {shape} for a single image (input {_shape_text(1, input_shape)}, eval mode); "
        f"expected (1, {num_classes}): {cause}; {_KEEP_BATCH}. A batch of 2 gave the right shape.",
    }


def _diagnose_batch_failure(model: nn.Module, input_shape: tuple[int, ...]) -> str:
    """When a batch of 2 fails: if one image runs, say that the batch dimension is being merged."""
    try:
        out = _single_image_output(model, input_shape)
    except Exception:  # noqa: BLE001 - only a diagnosis; the original error is reported
        return ""
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    return f"; a single image runs (output {shape}), so the batch dimension is merged with the features: {_KEEP_BATCH}"


def _check_registered(model: nn.Module) -> dict | None:
    """Layers or learned tensors held where ``nn.Module`` does not register them: a ``build_error``."""
    found = unregistered_state(model)
    if not found:
        return None
    listed = "; ".join(f.describe() for f in found[:6]) + (f"; and {len(found) - 6} more" if len(found) > 6 else "")
    fixes = []
    kinds = {f.kind for f in found}
    if "module" in kinds:
        fixes.append("hold layers in nn.ModuleList or nn.ModuleDict (not a Python list, tuple or dict)")
    if "parameter" in kinds:
        fixes.append("hold parameters in nn.ParameterList or nn.ParameterDict")
    if "tensor" in kinds:
        fixes.append(
            "make a learned tensor an nn.Parameter (self.w = nn.Parameter(torch.randn(...))), or keep a fixed "
            "one with self.register_buffer(name, tensor) and requires_grad=False"
        )
    return {
        "code": "build_error",
        "message": f"not registered with the model: {listed}. The optimizer never trains them, .to(device) never "
        f"moves them and the parameter budget never counts them: {'; '.join(fixes)}",
    }


_BATCH = 4  # images in the batch-independence check


def _mixing_causes(model: nn.Module) -> list[str]:
    """Layers that read the batch dimension as a sequence (a likely cause of batch-dependent output)."""
    causes = []
    layers: list[str] = []  # transformer layers named already: their attention is not named again
    for name, module in model.named_modules():
        where = f"self.{name}" if name else "the model"
        if isinstance(module, nn.MultiheadAttention) and not module.batch_first:
            if any(name.startswith(f"{layer}.") for layer in layers):
                continue
            what = "nn.MultiheadAttention"
        elif isinstance(module, nn.TransformerEncoderLayer | nn.TransformerDecoderLayer) and not getattr(
            module.self_attn, "batch_first", True
        ):
            what = f"nn.{type(module).__name__}"
            layers.append(name)
        elif isinstance(module, nn.RNNBase) and not module.batch_first:
            what = f"nn.{type(module).__name__}"
        else:
            continue
        causes.append(
            f"{where} ({what}) is built without batch_first=True, so it reads (batch, tokens, channels) as "
            "(tokens, batch, channels) and mixes the images of a batch: pass batch_first=True"
        )
    return causes


def _check_batch_independence(
    model: nn.Module, input_shape: tuple[int, ...], num_classes: int, progress: Progress
) -> dict | None:
    """In eval mode, each image's logits alone must equal its logits inside a batch of several.

    The batch holds natural-looking images (:func:`fairnad_tools.measure.sample_images` with
    ``natural=True``), like a batch of real data, so a gate on the batch's statistics that every
    real batch passes the same way is not held against the model. Eval-mode batch norm is per
    image, so any difference beyond float rounding (relative to the logits' scale) means the
    model mixes images: a ``bad_output_shape`` report naming the likely cause. A model whose eval
    output varies from run to run (sampling in eval mode) or is not finite is not judged here.
    """
    progress.hint = f" (a batch of {_BATCH} images, eval mode: {_KEEP_BATCH})"
    device, dtype = model_device_dtype(model)
    images = sample_images(input_shape, _BATCH, seed=1, device=device, dtype=dtype, natural=True)
    with _evaluating(model):
        batch = model(images)
        if not isinstance(batch, torch.Tensor) or tuple(batch.shape) != (_BATCH, num_classes):
            shape = tuple(batch.shape) if isinstance(batch, torch.Tensor) else type(batch).__name__
            return {
                "code": "bad_output_shape",
                "message": f"output shape {shape} for a batch of {_BATCH} images (input "
                f"{_shape_text(_BATCH, input_shape)}, eval mode); expected ({_BATCH}, {num_classes}): the output "
                f"depends on the batch size; {_KEEP_BATCH}",
            }
        alone = torch.cat([model(images[i : i + 1]) for i in range(_BATCH)])
        again = model(images[:1])
    if not (torch.isfinite(batch).all() and torch.isfinite(alone).all() and torch.isfinite(again).all()):
        return None  # NaN or Inf: the finiteness check names it
    tolerance = max(1e-3, 50 * torch.finfo(batch.dtype).eps) if batch.is_floating_point() else 0.0
    scale = float(torch.maximum(alone.abs().max(), batch.abs().max()))
    if float((again - alone[:1]).abs().max()) > tolerance * scale:
        return None  # output varies between identical calls: not a batch effect that can be judged
    differences = (batch - alone).abs().flatten(1).amax(dim=1)
    worst = int(differences.argmax())
    if float(differences[worst]) <= tolerance * scale:
        return None
    causes = _mixing_causes(model) or [
        "a reduction over the batch dimension (x.mean(0), x.sum(0), x.std(0), statistics of the batch used "
        "in eval mode, a condition on a statistic of the whole batch such as x.amax()), a layer that treats the "
        "batch as a sequence (batch_first), or a view or reshape that moves the batch dimension into the features"
    ]
    return {
        "code": "bad_output_shape",
        "message": f"an image's logits depend on the other images in its batch: in eval mode, image {worst} alone "
        f"and inside a batch of {_BATCH} differ by {float(differences[worst]):.3g} (logits up to {scale:.3g}); "
        f"likely cause: {'; '.join(causes)}. Keep dimension 0 the batch everywhere and compute every image "
        "on its own (batch norm in eval mode already does)",
    }


def _no_gradient(model: nn.Module) -> str:
    """Why no parameter received a gradient from the loss."""
    params = list(model.parameters())
    if not params:
        why = "the model has no parameters; add learned layers (convolutions, linear layers)"
    elif not any(p.requires_grad for p in params):
        why = "every parameter is frozen (requires_grad=False); leave the layers that should learn trainable"
    else:
        why = "the output does not depend on any trainable parameter; connect the learned layers to the output"
    return f"no parameter receives a gradient, so training cannot change the model: {why}"


def _check_training_batch(
    model: nn.Module, input_shape: tuple[int, ...], num_classes: int, batch: int, progress: Progress
) -> dict | None:
    """The largest batch training runs (eval mode, no_grad: shapes only) must give (batch, num_classes).

    Catches a batch size written as a constant that small batches pass: a buffer of 8 sliced by
    ``x.shape[0]``, a ``view`` or ``expand`` to a fixed batch.
    """
    progress.hint = f" (a training batch of {batch} images, input shape {_shape_text(batch, input_shape)}, eval mode: {_KEEP_BATCH})"
    try:
        with _evaluating(model):
            out = model(torch.randn(batch, *input_shape))
    except (MemoryError, RuntimeError) as exc:
        if _is_oom(exc) or "bad_alloc" in str(exc):
            # the verifier's memory limit is not training's: a batch too large for it says nothing of shapes
            return None
        raise
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if shape == (batch, num_classes):
        return None
    return {
        "code": "bad_output_shape",
        "message": f"output shape {shape} for a training batch of {batch} images (input "
        f"{_shape_text(batch, input_shape)}, eval mode); expected ({batch}, {num_classes}): the output depends "
        f"on the batch size; {_KEEP_BATCH}. Batches of 1, 2 and {_BATCH} gave the right shape.",
    }


def exercise(
    model: nn.Module, input_shape: tuple[int, ...], num_classes: int, progress: Progress, train_batch: int = 0
) -> dict:
    """Forward on a training batch of 2 (train mode), output shape, registration of layers and
    learned tensors, a single image, batch independence and (when ``train_batch`` > 0) a batch of
    ``train_batch`` images (eval mode), backward, finiteness, then measurements (after these
    forwards, so lazy modules have their shapes).

    Returns the worker's result: ``code`` and ``message`` on a failure; on success ``params``
    (the model size), ``stored_weights``, ``flops`` (MACs per image), ``macs_by_operator``,
    ``uncounted_ops``, ``weight_only_macs``, ``weighted_layers`` and ``signature``. Exceptions propagate, with
    ``progress`` naming the check and a hint.
    """
    progress.stage, progress.hint = "forward_error", f" (input shape {_shape_text(2, input_shape)})"
    model.train()
    inputs = torch.randn(2, *input_shape)
    try:
        out = model(inputs.clone())  # a clone, so in-place operations on the input stay legal
    except Exception as exc:
        if not isinstance(exc, MemoryError) and MARK not in str(exc):
            progress.hint += _diagnose_batch_failure(model, input_shape)
        raise
    if not isinstance(out, torch.Tensor):
        return {
            "code": "bad_output_shape",
            "message": f"forward returned {type(out).__name__}, expected a tensor of shape "
            f"(batch, num_classes) = (2, {num_classes})",
        }
    if tuple(out.shape) != (2, num_classes):
        return {
            "code": "bad_output_shape",
            "message": f"output shape {tuple(out.shape)} for input {_shape_text(2, input_shape)}; "
            f"expected (2, {num_classes}): end with global pooling, flatten(1) and a Linear to num_classes",
        }
    unregistered = _check_registered(model)
    if unregistered is not None:
        return unregistered
    single = _check_single_image(model, input_shape, num_classes, progress)
    if single is not None:
        return single
    mixed = _check_batch_independence(model, input_shape, num_classes, progress)
    if mixed is not None:
        return mixed
    if train_batch > _BATCH:
        large = _check_training_batch(model, input_shape, num_classes, train_batch, progress)
        if large is not None:
            return large
    progress.stage, progress.hint = "backward_error", ""
    loss = nn.functional.cross_entropy(out.float(), torch.tensor([0, num_classes - 1]))
    loss.backward()
    if not any(p.grad is not None for p in model.parameters()):
        return {"code": "backward_error", "message": _no_gradient(model)}
    grads_finite = all(torch.isfinite(p.grad).all().item() for p in model.parameters() if p.grad is not None)
    if not torch.isfinite(out).all().item() or not grads_finite:
        what = "outputs" if not torch.isfinite(out).all().item() else "gradients"
        return {
            "code": "non_finite",
            "message": f"NaN or Inf in the {what} on a random input; check divisions, "
            "logs, exponentials and normalisation with zero variance",
        }
    progress.stage, progress.hint = "forward_error", " (measuring MACs and depth on single images, eval mode)"
    measured, structure = probe(model, input_shape)
    return {
        "code": "ok",
        "params": measured.size.total,
        "stored_weights": measured.size.stored_weights,
        "flops": measured.macs.total,
        "macs_by_operator": measured.macs.by_operator,
        "uncounted_ops": list(measured.macs.uncounted),
        "weight_only_macs": measured.macs.weight_only,
        "weighted_layers": measured.depth,
        "signature": structure,
    }


def verify(
    path: Path, parent: Path | None, input_shape: tuple[int, ...], num_classes: int, train_batch: int = 0
) -> dict:
    fname = str(path)
    progress = Progress()
    try:
        torch.manual_seed(0)
        model = load_candidate(path, num_classes)
        result = exercise(model, input_shape, num_classes, progress, train_batch)
        if parent is not None and result["code"] == "ok":
            fname = str(parent)
            progress.stage = "build_error"
            parent_model = load_candidate(parent, num_classes)
            result["parent_signature"] = signature(parent_model, input_shape)
        return result
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a report
        stage = progress.stage
        if _is_oom(exc):
            return {
                "code": "out_of_memory",
                "message": f"memory allocation failed while {stage.replace('_error', '')}ing the "
                f"model{_where(exc, fname)}: make it smaller",
            }
        where = _where(exc, fname)
        if MARK in str(exc):
            return {"code": "forbidden_call", "message": f"{exc}{where}"}
        detail = f"{type(exc).__name__}: {exc}".strip()
        if len(detail) > 800:
            detail = detail[:800] + " ..."
        if fname != str(path):
            return {"code": "build_error", "message": f"the parent model does not build: {detail}"}
        hint = progress.hint if stage == "forward_error" else ""
        return {"code": stage, "message": f"{detail}{where}{hint}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fairnad_tools.verify.worker")
    parser.add_argument("--file", required=True, type=Path)
    parser.add_argument("--parent", type=Path)
    parser.add_argument("--input-shape", required=True)
    parser.add_argument("--num-classes", required=True, type=int)
    parser.add_argument("--result", required=True, type=Path)
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--cpu-seconds", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train-batch", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    warm_up()
    _set_limits(args.memory_mb, args.cpu_seconds)
    readable = [args.file.resolve().parent] + ([args.parent.resolve().parent] if args.parent else [])
    install_guard(read=readable, write=[args.result.resolve().parent])
    shape = tuple(int(v) for v in args.input_shape.split(","))
    try:
        parent = args.parent.resolve() if args.parent else None
        result = verify(args.file.resolve(), parent, shape, args.num_classes, args.train_batch)
    except MemoryError:
        result = {"code": "out_of_memory", "message": "memory allocation failed"}
    atomic_write_json(args.result, result)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
