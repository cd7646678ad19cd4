"""Verifier child process: builds and exercises one candidate file, prints a JSON result.

Run as ``python -m fairnad_tools.verify.worker ARGS``; never imported by the main
process. Limits (CPU time, address space) are set after ``import torch`` so the
import itself is not broken by them. The result is written to ``--result``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import resource
import sys
import traceback
from pathlib import Path

import torch
from torch import nn

from fairnad_tools.io import atomic_write_json
from fairnad_tools.measure import count_macs, count_params


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


def _load(path: Path, num_classes: int) -> nn.Module:
    spec = importlib.util.spec_from_file_location(f"candidate_{abs(hash(path))}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build_model(num_classes)
    if not isinstance(model, nn.Module):
        raise TypeError(f"build_model returned {type(model).__name__}, expected torch.nn.Module")
    return model


def _structure(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, str]:
    """Weighted layers executed in forward, and a name-free hash of the executed structure.

    A weighted layer is a leaf module with a parameter of two or more dimensions (a conv
    or linear weight), counted once per execution; the hash covers the sequence of
    executed leaf modules (type and parameter shapes), so renaming changes nothing.
    """
    executed: list[str] = []
    weighted = 0
    hooks = []
    for module in model.modules():
        if next(module.children(), None) is not None:
            continue
        shapes = [tuple(p.shape) for p in module.parameters(recurse=False)]
        is_weighted = any(len(shape) >= 2 for shape in shapes)

        def hook(mod: nn.Module, _inp: object, _out: object, shapes=shapes, w=is_weighted) -> None:
            nonlocal weighted
            executed.append(f"{type(mod).__name__}{shapes}")
            weighted += int(w)

        hooks.append(module.register_forward_hook(hook))
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for handle in hooks:
            handle.remove()
    signature = hashlib.sha256("\n".join(executed).encode()).hexdigest()[:16]
    return weighted, signature


def verify(path: Path, parent: Path | None, input_shape: tuple[int, ...], num_classes: int) -> dict:
    fname = str(path)
    stage = "build_error"
    try:
        torch.manual_seed(0)
        model = _load(path, num_classes)
        stage = "forward_error"
        model.train()
        x = torch.randn(2, *input_shape)
        out = model(x)
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
        stage = "backward_error"
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
        stage = "forward_error"
        params = count_params(model)
        flops = count_macs(model, input_shape)
        layers, signature = _structure(model, input_shape)
        result = {
            "code": "ok",
            "params": params,
            "flops": flops,
            "weighted_layers": layers,
            "signature": signature,
        }
        if parent is not None:
            fname = str(parent)
            stage = "build_error"
            parent_model = _load(parent, num_classes)
            result["parent_signature"] = _structure(parent_model, input_shape)[1]
        return result
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a report
        if _is_oom(exc):
            return {
                "code": "out_of_memory",
                "message": f"memory allocation failed while {stage.replace('_error', '')}ing the "
                f"model{_where(exc, fname)}: make it smaller",
            }
        where = _where(exc, fname)
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
    _set_limits(args.memory_mb, args.cpu_seconds)
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
