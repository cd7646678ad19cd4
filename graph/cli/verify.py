"""``fairnad verify``: check a candidate ``model.py`` as a run would, and print the report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from fairnad_tools.settings import VerifySettings, parse_count
from graph.cli.common import UsageError, _echo, out


def _shape(text: str) -> tuple[int, int, int]:
    try:
        parts = tuple(int(p) for p in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) < 1:
        raise UsageError(f"--input-shape must be C,H,W with positive integers, e.g. 3,32,32 (got {text!r})")
    return parts


def _count(text: str, flag: str) -> int:
    try:
        value = parse_count(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    if not isinstance(value, int) or value <= 0:
        raise UsageError(f"{flag} must be a positive count such as 1500000, 1.5M or 200M (got {text!r})")
    return value


def verify(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="candidate model.py")],
    parent: Annotated[Path | None, typer.Option(help="parent model.py: also check the architecture changed")] = None,
    input_shape: Annotated[str, typer.Option(help="C,H,W")] = "3,32,32",
    num_classes: Annotated[int, typer.Option(min=1, help="classes of the output layer")] = 10,
    max_params: Annotated[str, typer.Option(help="parameter budget (1.5M)")] = "1.5M",
    max_flops: Annotated[
        str | None, typer.Option(help="multiply-accumulates per image (default: 200M at 32x32, 50M below)")
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="seconds the model's own checks may take")] = 20.0,
    memory_mb: Annotated[int, typer.Option(min=0, help="memory the checks may allocate (MB); 0: no limit")] = 2048,
    batch_size: Annotated[
        int,
        typer.Option(
            min=0,
            help="training batch size: the model must also run a batch of N+1 images "
            "(a last batch of one joins the one before); 0 (default): batches of 1, 2 and 4 only "
            "(a run checks its own training batch)",
        ),
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON report")] = False,
) -> None:
    """Verify a candidate file; exit 0 when it passes, 1 when rejected, 2 on usage errors."""
    from fairnad_tools.verify import verify_file

    # The check runs in a child forked from a process that has already imported torch, as in a
    # run: --timeout then limits the model's own work, never the interpreter's start-up (seconds
    # that vary with the machine), and one verification costs no more than with a fresh child.
    for path, what in ((file, "FILE"), (parent, "--parent")):
        if path is not None and not path.is_file():
            raise UsageError(f"{what}: {path} does not exist or is not a file")
    shape = _shape(input_shape)
    report = verify_file(
        file,
        parent=parent,
        input_shape=shape,
        num_classes=num_classes,
        max_params=_count(max_params, "--max-params"),
        max_flops=_count(max_flops, "--max-flops") if max_flops else VerifySettings().flops_budget(shape),
        timeout_s=timeout,
        memory_mb=memory_mb,
        train_batch=batch_size + 1 if batch_size else 0,
    )
    if as_json:
        _echo(
            report.model_dump_json(
                include={
                    "ok",
                    "code",
                    "message",
                    "params",
                    "flops",
                    "seconds",
                    "weighted_layers",
                    "signature",
                    "macs_by_operator",
                    "uncounted_ops",
                    "weight_only_macs",
                }
            )
        )
    else:
        colour = "green" if report.ok else "red"
        out.print(f"[{colour}]{escape(report.code)}[/]: {escape(report.message)}", highlight=False)
        out.print(
            f"params {_exact(report.params)}, MACs {_exact(report.flops)} per image, {report.seconds:.2f} s",
            highlight=False,
        )
        if report.macs_by_operator is not None:
            out.print(_macs_line(report.macs_by_operator, report.uncounted_ops), highlight=False, markup=False)
        if report.weight_only_macs:
            out.print(
                f"plus {report.weight_only_macs:,} MACs on the weights alone, once per forward pass "
                "(not per image, not in the total)",
                highlight=False,
                markup=False,
            )
    raise typer.Exit(0 if report.ok else 1)


def _exact(value: int | None) -> str:
    """An exact count with thousands separators, and its size in millions: ``2,818,688 (2.82M)``."""
    if value is None:
        return "-"
    return f"{value:,}" + (f" ({value / 1e6:.2f}M)" if value >= 100_000 else "")


def _macs_line(by_operator: dict[str, int], uncounted: list[str]) -> str:
    """``MACs by operator: conv 196,608, linear 2,097,792`` (exact), then what was not counted."""
    parts = [f"{kind} {value:,}" for kind, value in sorted(by_operator.items(), key=lambda item: -item[1])]
    line = "MACs by operator: " + (", ".join(parts) or "none")
    if uncounted:
        line += f"; not counted: {', '.join(uncounted)}"
    return line
