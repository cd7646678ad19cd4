"""Verifier child process: builds and exercises one candidate file, prints a JSON result.

Run as ``python -m fairnad_tools.verify.worker ARGS``; never imported by the main
process. Limits (CPU time, address space) are set after ``import torch`` so the
import itself is not broken by them. The result is written to ``--result``.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import resource
import sys
import traceback
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from fairnad_tools.io import atomic_write_json
from fairnad_tools.measure import MacCount, count_params, measure_macs, sample_images, warm_up
from fairnad_tools.sandbox import MARK, install_guard, load_candidate


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


# Autograd nodes of products (convolutions, matrix products, einsum and @ through them, bilinear,
# fused recurrent layers, attention kernels): a weighted layer is one of these with a learned operand.
_PRODUCT_NODE = re.compile(
    r"(Convolution|SlowConv\w*|ConvDepthwise\w*|CudnnConvolution\w*|MkldnnConvolution|Mm|Addmm|Bmm|Baddbmm|"
    r"Addbmm|Mv|Addmv|Dot|Vdot|Trilinear|MkldnnRnnLayer|CudnnRnn|MiopenRnn|\w*Attention\w*)Backward\d*"
)


def _is_product(node: object) -> bool:
    return _PRODUCT_NODE.fullmatch(type(node).__name__) is not None


def path_depth(output: torch.Tensor, inputs: torch.Tensor) -> int:
    """Weighted layers on the longest path from ``inputs`` to ``output``, read off the autograd graph.

    ``inputs`` must be a leaf that requires grad and ``output`` computed from it. A weighted layer
    is a product (convolution, matrix product, einsum, ``@``, bilinear, fused recurrent or
    attention kernel) whose operands include a learned one: a value computed from parameters
    alone, however it reaches the product (``weight.t()``, or reshape, permute, transpose,
    unsqueeze, expand, view or arithmetic chains, as ``einsum`` and ``@`` on raw parameters
    build). Products of two activations (QK^T) and element-wise use of parameters (norm
    affines, layer scale, positional embeddings) are not layers. Parallel branches do not add
    up: only the longest chain counts.

    When the model cuts the graph from its input (``x.detach()``, a stem run under
    ``no_grad``), the walk starts where the graph does: operands without a graph count as inputs.
    """
    root = output.grad_fn
    if root is None:
        return 0
    depth = _walk(root, inputs, cut_inputs=False)
    if depth is None:
        depth = _walk(root, inputs, cut_inputs=True)
    return depth or 0


def _walk(root: object, inputs: torch.Tensor, *, cut_inputs: bool) -> int | None:
    """Longest weighted chain from the input to ``root``; ``None`` when ``root`` does not reach the input.

    Per node, in one iterative post-order pass: whether it depends on the input, whether it
    depends on a parameter, and its depth (weighted layers on the longest chain below it).
    """
    data: dict[int, bool] = {}  # depends on the input
    learned: dict[int, bool] = {}  # depends on a parameter
    depth: dict[int, int] = {}
    stack: list[tuple[object, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        key = id(node)
        if key in depth:
            continue
        variable = getattr(node, "variable", None)
        if variable is not None:  # a leaf: the input or a parameter
            is_input = variable is inputs
            data[key], learned[key], depth[key] = is_input, not is_input, 0
            continue
        edges = [n for n, _ in node.next_functions]  # type: ignore[attr-defined]
        children = [n for n in edges if n is not None]
        if not expanded:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in depth)
            continue
        on_path = [c for c in children if data[id(c)]]
        data[key] = bool(on_path) or (cut_inputs and len(children) < len(edges))
        learned[key] = any(learned[id(c)] for c in children)
        weighted = _is_product(node) and any(learned[id(c)] and not data[id(c)] for c in children)
        depth[key] = int(weighted and data[key]) + max((depth[id(c)] for c in on_path), default=0)
    return depth[id(root)] if data[id(root)] else None


class _OpRecorder(TorchDispatchMode):
    """Records every tensor operation and its output shapes (names of modules play no part);
    each entry into the mode starts a new forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __enter__(self) -> _OpRecorder:
        self.ops.append("-- pass")
        return super().__enter__()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        shapes = [tuple(t.shape) for t in torch.utils._pytree.tree_leaves(out) if isinstance(t, torch.Tensor)]
        self.ops.append(f"{func.__name__}{shapes}")
        return out


def probe(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[MacCount, str]:
    """MACs (:func:`fairnad_tools.measure.measure_macs`) and the structure signature, from the same passes.

    The signature hashes the multiset of parameter shapes and the sequences of tensor
    operations (with output shapes) of the forward passes on the sample images (normalised
    random images, one at a time, eval mode, fused fast path off), not on one all-zero image:
    a change inside a branch that a gate takes only on real inputs changes the signature.
    Renames and comments change nothing.
    """
    recorder = _OpRecorder()
    macs = measure_macs(model, input_shape, observer=recorder)
    params = sorted(str(tuple(p.shape)) for p in model.parameters())
    blob = "\n".join(params) + "\n--\n" + "\n".join(recorder.ops)
    return macs, hashlib.sha256(blob.encode()).hexdigest()[:16]


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


def _single_image_output(model: nn.Module, input_shape: tuple[int, ...]) -> object:
    """The model's output for one image in eval mode (as evaluation and inference run it)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(sample_images(input_shape, 1))
    finally:
        model.train(was_training)


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


def exercise(model: nn.Module, input_shape: tuple[int, ...], num_classes: int, progress: Progress) -> dict:
    """Forward on a training batch of 2 (train mode), output shape, a single image (eval mode),
    backward, finiteness, then measurements.

    Returns the worker's result: ``code`` and ``message`` on a failure; on success ``params``,
    ``flops`` (MACs per image), ``macs_by_operator``, ``uncounted_ops``, ``weighted_layers`` and
    ``signature``. Exceptions propagate, with ``progress`` naming the check and a hint.
    """
    progress.stage, progress.hint = "forward_error", f" (input shape {_shape_text(2, input_shape)})"
    model.train()
    inputs = torch.randn(2, *input_shape).requires_grad_()  # a leaf: the depth walk starts here
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
    single = _check_single_image(model, input_shape, num_classes, progress)
    if single is not None:
        return single
    depth = path_depth(out, inputs)
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
    progress.stage, progress.hint = "forward_error", " (measuring MACs on single images, eval mode)"
    macs, structure = probe(model, input_shape)
    return {
        "code": "ok",
        "params": count_params(model),
        "flops": macs.total,
        "macs_by_operator": macs.by_operator,
        "uncounted_ops": list(macs.uncounted),
        "weighted_layers": depth,
        "signature": structure,
    }


def verify(path: Path, parent: Path | None, input_shape: tuple[int, ...], num_classes: int) -> dict:
    fname = str(path)
    progress = Progress()
    try:
        torch.manual_seed(0)
        model = load_candidate(path, num_classes)
        result = exercise(model, input_shape, num_classes, progress)
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
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    warm_up()
    _set_limits(args.memory_mb, args.cpu_seconds)
    readable = [args.file.resolve().parent] + ([args.parent.resolve().parent] if args.parent else [])
    install_guard(read=readable, write=[args.result.resolve().parent])
    shape = tuple(int(v) for v in args.input_shape.split(","))
    try:
        result = verify(args.file.resolve(), args.parent.resolve() if args.parent else None, shape, args.num_classes)
    except MemoryError:
        result = {"code": "out_of_memory", "message": "memory allocation failed"}
    atomic_write_json(args.result, result)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
