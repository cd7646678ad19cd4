"""The code verifier: static checks, then a sandboxed child process, then budgets and structure.

Checks run in order and stop at the first failure:
static -> build -> forward -> output shape -> registered layers -> single image -> batch independence ->
backward -> finite -> parameters (model size) -> FLOPs -> structure.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from fairnad_tools.io import read_json
from fairnad_tools.isolation.launch import run_python_module
from fairnad_tools.verify.report import VerifyReport, stored_weights_text
from fairnad_tools.verify.static import check_file

__all__ = ["VerifyReport", "verify_file"]


def _fmt(n: int) -> str:
    return f"{n / 1e6:.3f}M" if n >= 1e5 else f"{n:,}"


def verify_file(
    path: str | Path,
    *,
    parent: str | Path | None = None,
    input_shape: tuple[int, int, int] = (3, 32, 32),
    num_classes: int = 10,
    max_params: int = 1_500_000,
    max_flops: int = 200_000_000,
    min_layers: int = 3,
    timeout_s: float = 20.0,
    memory_mb: int = 2048,
    train_batch: int = 0,
) -> VerifyReport:
    """Verify one candidate file; never raises for a bad candidate, only for a missing file.

    ``train_batch`` > 4: the largest batch training will run (its batch size plus one, when a last
    batch of one image is folded into the one before); the model must give the right output shape
    for it too (a forward in eval mode, no_grad). 0 checks batches of 1, 2 and 4 only.
    """
    start = time.monotonic()
    path = Path(path)
    report = check_file(path)  # decoded exactly as Python decodes it (BOM, PEP 263, CRLF)
    parent_signature = None
    if report is None:
        report, parent_signature = _run_dynamic(
            path, parent, input_shape, num_classes, timeout_s, memory_mb, train_batch
        )
    if report.ok:
        report = _check_budgets_and_structure(report, parent_signature, max_params, max_flops, min_layers)
    report.seconds = round(time.monotonic() - start, 3)
    return report


def _run_dynamic(
    path: Path,
    parent: str | Path | None,
    input_shape: tuple[int, int, int],
    num_classes: int,
    timeout_s: float,
    memory_mb: int,
    train_batch: int = 0,
) -> tuple[VerifyReport, str | None]:
    """Build and exercise the file in a child; returns the report and the parent's signature."""
    with tempfile.TemporaryDirectory(prefix="fairnad-verify-") as workdir:
        result_path = Path(workdir) / "result.json"
        args = [
            "--file",
            str(path.resolve()),
            "--input-shape",
            ",".join(map(str, input_shape)),
            "--num-classes",
            str(num_classes),
            "--result",
            str(result_path),
            "--memory-mb",
            str(memory_mb),
            "--cpu-seconds",
            str(int(timeout_s) + 1),
            "--train-batch",
            str(train_batch),
        ]
        if parent is not None:
            args += ["--parent", str(Path(parent).resolve())]
        child = run_python_module("fairnad_tools.verify.worker", args, timeout=timeout_s, cwd=workdir)
        if child.timed_out or child.killed_by_signal in (9, 24):  # SIGKILL, SIGXCPU
            return VerifyReport(
                ok=False,
                code="timeout",
                message=f"verification did not finish within {timeout_s:g} s; the model is too "
                "slow to build or run (or loops forever): make it smaller or remove the loop",
            ), None
        if not result_path.exists():
            tail = child.output_tail.strip().splitlines()[-5:]
            oom = any("MemoryError" in line or "alloc" in line.lower() for line in tail)
            return VerifyReport(
                ok=False,
                code="out_of_memory" if oom else "build_error",
                message=(
                    f"the verifier process died (exit {child.returncode}) before reporting: "
                    + (" | ".join(tail) or "no output")
                ),
            ), None
        data = read_json(result_path)
    code = data.pop("code")
    if code != "ok":
        return VerifyReport(ok=False, code=code, message=data["message"]), None
    parent_signature = data.pop("parent_signature", None)
    return VerifyReport(ok=True, code="ok", message="ok", **data), parent_signature


def _check_budgets_and_structure(
    report: VerifyReport,
    parent_signature: str | None,
    max_params: int,
    max_flops: int,
    min_layers: int,
) -> VerifyReport:
    checks = (
        ("over_param_budget", report.params or 0, max_params, "parameters", "reduce width or depth"),
        (
            "over_flops_budget",
            report.flops or 0,
            max_flops,
            "multiply-accumulates per image",
            "downsample earlier or reduce width",
        ),
    )
    for code, value, budget, what, advice in checks:
        if value > budget:
            over = value - budget
            if code == "over_param_budget" and report.stored_weights:
                what += f" ({stored_weights_text(report.stored_weights)})"
            message = f"{_fmt(value)} {what}, budget {_fmt(budget)}: {_fmt(over)} ({over / budget:.0%}) over; {advice}"
            return report.model_copy(update={"ok": False, "code": code, "message": message})
    if (report.weighted_layers or 0) < min_layers:
        return report.model_copy(
            update={
                "ok": False,
                "code": "too_shallow",
                "message": f"only {report.weighted_layers} weighted layer(s) run from input to output; "
                f"a candidate needs at least {min_layers} (a multi-layer network)",
            }
        )
    if parent_signature is not None and parent_signature == report.signature:
        return report.model_copy(
            update={
                "ok": False,
                "code": "not_modified",
                "message": "the architecture is identical to the parent's (same layers in the same "
                "order, names ignored); make a real structural change",
            }
        )
    return report
