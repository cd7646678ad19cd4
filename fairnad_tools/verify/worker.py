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
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from fairnad_tools.io import atomic_write_json
from fairnad_tools.measure import count_macs, count_params, warm_up
from fairnad_tools.sandbox import MARK, install_guard, load_candidate


def _set_limits(memory_mb: int, cpu_seconds: int) -> None:
    if cpu_seconds > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
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
    return f" (model.py line {frame.lineno}, in {frame.name}: {frame.line})"


_VIEW_NODES = ("TBackward", "ViewBackward", "PermuteBackward", "TransposeBackward", "ExpandBackward",
               "UnsqueezeBackward", "ReshapeAliasBackward", "UnsafeViewBackward", "SqueezeBackward")  # fmt: skip


def _is_weight_leaf(node: object, weights: set[int], hops: int = 1) -> bool:
    """An AccumulateGrad of a 2+-dim parameter, possibly behind a view (Linear's weight.t())."""
    variable = getattr(node, "variable", None)
    if variable is not None:
        return id(variable) in weights
    name = type(node).__name__
    if hops and name.startswith(_VIEW_NODES):
        return any(_is_weight_leaf(n, weights, hops - 1) for n, _ in node.next_functions if n is not None)
    return False


def path_depth(output: torch.Tensor, model: nn.Module) -> int:
    """Weighted layers on the longest path from input to output, read off the autograd graph.

    A node counts when one of its inputs is a conv or linear weight (a parameter of two or
    more dimensions); parallel branches do not add up, only the longest chain counts.
    """
    weights = {id(p) for p in model.parameters() if p.dim() >= 2}
    depth: dict[int, int] = {}
    root = output.grad_fn
    if root is None:
        return 0
    stack: list[tuple[object, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        key = id(node)
        if key in depth:
            continue
        children = [n for n, _ in node.next_functions if n is not None]
        if not expanded:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in depth and not _is_weight_leaf(c, weights))
            continue
        data = [c for c in children if not _is_weight_leaf(c, weights)]  # weight branches are not the path
        own = int(len(data) < len(children))
        depth[key] = own + max((depth.get(id(c), 0) for c in data), default=0)
    return depth[id(root)]


class _OpRecorder(TorchDispatchMode):
    """Records every tensor operation and its output shapes (names of modules play no part)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        shapes = [tuple(t.shape) for t in torch.utils._pytree.tree_leaves(out) if isinstance(t, torch.Tensor)]
        self.ops.append(f"{func.__name__}{shapes}")
        return out


def signature(model: nn.Module, input_shape: tuple[int, ...]) -> str:
    """Hash of the architecture: the multiset of parameter shapes and the sequence of tensor
    operations (with output shapes) of one forward pass. Renames and comments change nothing."""
    params = sorted(str(tuple(p.shape)) for p in model.parameters())
    recorder = _OpRecorder()
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), recorder:
            model(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
    blob = "\n".join(params) + "\n--\n" + "\n".join(recorder.ops)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class Progress:
    """Which check is running, so an exception can be reported with the right code."""

    stage = "build_error"


def exercise(model: nn.Module, input_shape: tuple[int, ...], num_classes: int, progress: Progress) -> dict:
    """Forward, output shape, backward, finiteness, then measurements; exceptions propagate."""
    progress.stage = "forward_error"
    model.train()
    out = model(torch.randn(2, *input_shape))
    if not isinstance(out, torch.Tensor):
        return {
            "code": "bad_output_shape",
            "message": f"forward returned {type(out).__name__}, expected a tensor of shape "
            f"(batch, num_classes) = (2, {num_classes})",
        }
    if tuple(out.shape) != (2, num_classes):
        return {
            "code": "bad_output_shape",
            "message": f"output shape {tuple(out.shape)} for input (2, {', '.join(map(str, input_shape))}); "
            f"expected (2, {num_classes}): end with global pooling, flatten and a Linear to num_classes",
        }
    depth = path_depth(out, model)
    progress.stage = "backward_error"
    loss = nn.functional.cross_entropy(out.float(), torch.tensor([0, num_classes - 1]))
    loss.backward()
    grads_finite = all(torch.isfinite(p.grad).all().item() for p in model.parameters() if p.grad is not None)
    if not torch.isfinite(out).all().item() or not grads_finite:
        what = "outputs" if not torch.isfinite(out).all().item() else "gradients"
        return {
            "code": "non_finite",
            "message": f"NaN or Inf in the {what} on a random input; check divisions, "
            "logs, exponentials and normalisation with zero variance",
        }
    progress.stage = "forward_error"
    return {
        "code": "ok",
        "params": count_params(model),
        "flops": count_macs(model, input_shape),
        "weighted_layers": depth,
        "signature": signature(model, input_shape),
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
        hint = ""
        if stage == "forward_error":
            hint = f" (input shape (2, {', '.join(map(str, input_shape))}))"
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
