"""The ``fairnad`` command line.

Heavy libraries (LangGraph, Chroma, sentence-transformers, torch) are imported inside
the commands that need them, so ``fairnad verify`` and ``fairnad --help`` start fast.

Exit codes: 0 done; 1 the work ran and failed (a run stopped, ``verify`` rejected the
model, ``trace`` filters that match nothing together); 2 a usage or setup error, reported
as one ``error:`` line before anything was done; 130 interrupted; 141 the standard output
was closed by its reader (``fairnad trace RUN | head -1``): the command stops quietly, as a
program killed by SIGPIPE does (128 + 13).
"""

from __future__ import annotations

import difflib
import errno
import json
import os
import re
import select
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from agents.registry import RoleRegistryError
from fairnad_tools.datasets import DataError, dataset_info
from fairnad_tools.settings import DataSettings, TrainSettings, VerifySettings, parse_count
from graph.settings import SettingsError, example_toml, load_settings, secret_keys, to_toml_data, toml_text
from graph.store import RunDirError, RunStore
from knowledge.store import StoreError
from knowledge.template import TemplateError

if TYPE_CHECKING:
    from graph.runner import ResumePlan

try:  # typer >= 0.20 raises its own bundled copy of click's exceptions
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_errors  # type: ignore[no-redef]

DEVICES = get_args(TrainSettings.model_fields["device"].annotation)
DATASETS = get_args(DataSettings.model_fields["dataset"].annotation)


class UsageError(Exception):
    """Bad command-line input: printed as one ``error:`` line without a traceback, exit code 2."""


class StdoutClosed(Exception):
    """The reader of the standard output went away (``| head``): the command stops, exit code 141.

    Not an ``OSError``, so typer's own handler of a closed pipe (exit 1, which FairNAD gives
    work that failed) never sees it; :func:`run_cli` turns it into :data:`EXIT_STDOUT_CLOSED`.
    """


EXIT_STDOUT_CLOSED = 141  # 128 + SIGPIPE, what a shell reports for a program killed by a closed pipe


def _stdout_is_closed() -> bool:
    """Whether the standard output is a pipe its reader has closed (poll reports an error on it)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll here, or no file descriptor behind stdout
        return False


def _guard_stdout(call: Callable[[], Any]) -> Any:
    """``call()``, with a closed standard output raised as :class:`StdoutClosed` (help text, any print);
    a broken pipe to anything else is left as it is."""
    try:
        return call()
    except OSError as exc:
        if exc.errno == errno.EPIPE and _stdout_is_closed():
            raise StdoutClosed from None
        raise


class _Group(TyperGroup):
    """A command group whose unknown command is a usage error naming the closest real one.

    Typer turns a broken pipe into exit 1 (FairNAD's code for work that failed); the group
    raises :class:`StdoutClosed` instead when it is the standard output that was closed.
    """

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        return _guard_stdout(lambda: super(_Group, self).make_context(*args, **kwargs))

    def invoke(self, ctx: Any) -> Any:
        return _guard_stdout(lambda: super(_Group, self).invoke(ctx))

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            known = self.list_commands(ctx)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean '{ctx.command_path} {close[0]}'?" if close else ""
            raise UsageError(
                f"{ctx.command_path}: no such command '{name}'{hint} Commands: {', '.join(known)} "
                f"(see '{ctx.command_path} --help')"
            )
        return super().resolve_command(ctx, args)


USER_ERRORS = (UsageError, SettingsError, RunDirError, DataError, TemplateError, StoreError, RoleRegistryError)

app = typer.Typer(
    name="fairnad",
    cls=_Group,
    help="FairNAD: open-ended neural architecture search driven by agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(cls=_Group, help="Show or create settings files.", no_args_is_help=True)
app.add_typer(config_app, name="config")


class _Stdout(Console):
    """The console of the standard output; a closed pipe raises :class:`StdoutClosed`
    (rich's default exits 1 itself)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise StdoutClosed


def _echo(text: str, end: str = "\n") -> None:
    """``print`` to the standard output; a closed pipe raises :class:`StdoutClosed`."""
    try:
        print(text, end=end)
    except BrokenPipeError:
        raise StdoutClosed from None


out = _Stdout(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML settings file (default: $FAIRNAD_CONFIG, else ./fairnad.toml)"),
]
DeviceOpt = Annotated[str | None, typer.Option(help=f"{', '.join(DEVICES)} (auto: the GPU when one is visible)")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")]


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


# -- run, resume ----------------------------------------------------------------------------
def _default_run_dir() -> Path:
    return Path("runs") / time.strftime("run-%Y%m%d-%H%M%S")


# flag name -> (settings section, key, the option as typed)
FLAGS = {
    "budget": ("search", "budget", "--budget"),
    "seed": ("search", "seed", "--seed"),
    "dataset": ("data", "dataset", "--dataset"),
    "data_dir": ("data", "data_dir", "--data-dir"),
    "epochs": ("train", "epochs", "--epochs"),
    "device": ("train", "device", "--device"),
}


def _overrides(**flags: Any) -> dict[str, Any]:
    result: dict[str, dict[str, Any]] = {}
    for key, value in flags.items():
        if value is not None:
            section, name, _ = FLAGS[key]
            result.setdefault(section, {})[name] = value
    return result


FLAG_NAMES = {(section, key): option for section, key, option in FLAGS.values()}


class _Progress:
    """A rich progress bar fed by the graph: candidates done of the budget, best accuracy."""

    def __init__(self, budget: int | None, quiet: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.quiet = quiet
        self.started = False
        self.best: float | None = None
        self.progress = Progress(
            TextColumn("[bold]candidates"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[best]}"), TimeElapsedColumn(),
            console=err, disable=quiet, transient=False,
        )  # fmt: skip
        self.task = self.progress.add_task("run", total=budget, best="best val -")

    def __call__(self, event: dict[str, Any]) -> None:
        if not self.started:  # shown from the first event on: a refused resume shows no bar
            self.progress.start()
            self.started = True
        if event.get("best") is not None:
            self.best = event["best"]
        best = f"best val {self.best:.2%}" if self.best is not None else "best val -"
        update: dict[str, Any] = {"completed": event.get("counted", 0), "best": best}
        if event.get("budget") is not None:  # an extended run shows its new budget
            update["total"] = event["budget"]
        self.progress.update(self.task, **update)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.progress.stop()


def _drive(fn: Any, store: RunStore, budget: int | None, quiet: bool) -> dict[str, Any]:
    """Run ``fn(store, progress)`` under a progress bar (shown from the first event), print the summary."""
    try:
        with _Progress(budget, quiet) as progress:
            summary = fn(store, progress)
    except KeyboardInterrupt:
        _fail(f"interrupted; finished candidates are kept. Continue with: fairnad resume {store.root}", 130)
    _print_summary(summary, store.root)
    if summary["status"] == "stopped":
        _fail(
            f"the run stopped: {summary.get('stop_reason')}. To try again: fairnad resume {store.root} "
            f"--budget N (N > {summary['counted']})",
            1,
        )
    return summary


@app.command()
def run(
    run_dir: Annotated[
        Path | None, typer.Option("--run-dir", "-o", help="run directory (default: runs/run-<time>)")
    ] = None,
    budget: Annotated[int | None, typer.Option(help="candidates that reach training")] = None,
    dataset: Annotated[str | None, typer.Option(help=f"{', '.join(DATASETS)} (digits is bundled)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="folder with the CIFAR files")] = None,
    epochs: Annotated[int | None, typer.Option(help="training epochs per candidate")] = None,
    device: DeviceOpt = None,
    seed: Annotated[int | None, typer.Option(help="search seed")] = None,
    config: ConfigOpt = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="continue the run in --run-dir (as 'fairnad resume'; --budget extends it)")
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Run a search (by default: the bundled digits data, built-in agents, the CPU).

    Everything that can be checked before the run starts (settings, roles, knowledge files,
    the device, the dataset's files and content) is checked before the run folder exists.
    """
    from graph.runner import check_start, start_run

    if resume:
        if run_dir is None:
            raise UsageError("--resume needs --run-dir DIR, the run to continue (or use 'fairnad resume DIR')")
        given = {"--dataset": dataset, "--data-dir": data_dir, "--epochs": epochs, "--seed": seed, "--config": config}
        cannot = [flag for flag, value in given.items() if value is not None]
        if cannot:
            raise UsageError(
                f"{', '.join(cannot)} cannot act on a resumed run: it keeps the settings it was started with "
                f"({Path(run_dir) / 'settings.toml'}); drop {'them' if len(cannot) > 1 else 'it'}, or start a "
                "new run in another --run-dir (only --budget and --device apply when resuming)"
            )
        if not RunStore(run_dir).holds_run():
            raise UsageError(f"--resume: {RunStore(run_dir).root} holds no run to resume; drop --resume to start one")
        resume_cmd(run_dir, budget=budget, device=device, quiet=quiet)
        return
    store = RunStore(run_dir or _default_run_dir())
    settings = load_settings(
        config,
        _overrides(budget=budget, seed=seed, dataset=dataset, data_dir=data_dir, epochs=epochs, device=device),
        flags=FLAG_NAMES,
    )
    if not dataset_info(settings.data.dataset).needs_data_dir and settings.data.data_dir is not None:
        if data_dir is not None:  # a flag that cannot act is an error, never ignored
            raise UsageError(
                f"--data-dir cannot act: the dataset is {settings.data.dataset}, which is bundled and reads no "
                "folder; drop --data-dir, or choose the dataset it holds (--dataset cifar10 or cifar100)"
            )
        err.print(
            f"note: data.data_dir ({settings.data.data_dir}) is not used: {settings.data.dataset} is bundled",
            highlight=False,
            soft_wrap=True,
        )
    check_start(settings, store)
    err.print(
        f"FairNAD run in [bold]{store.root}[/]: {settings.data.dataset}, budget {settings.search.budget}, "
        f"llm {settings.llm.provider}, device {settings.train.device}",
        highlight=False,
        soft_wrap=True,
    )

    def start(s: RunStore, progress: _Progress) -> dict[str, Any]:
        progress({"counted": 0, "budget": settings.search.budget})
        return start_run(settings, s, progress, checked=True)

    _drive(start, store, settings.search.budget, quiet)


@app.command("resume")
def resume_cmd(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="the run directory")],
    budget: Annotated[
        int | None,
        typer.Option(help="the run's new budget: at least what it has counted; more extends it, finished or not"),
    ] = None,
    device: DeviceOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Continue a run from its last checkpoint (finished candidates are kept), or extend it with --budget.

    Without --budget the run keeps its saved budget (an earlier extension included). A
    finished run continues from its current Pareto front, statistics and candidate ids.
    """
    from graph.runner import ResumeError, resume_run

    store = RunStore(run_dir)
    store.info()
    plans: list[ResumePlan] = []

    def announce(plan: ResumePlan) -> None:
        plans.append(plan)
        change = f", budget {plan.previous_budget} -> {plan.budget}" if plan.budget != plan.previous_budget else ""
        what = "resuming" if plan.continues else "nothing to resume in"
        # a run that is resumed was not running: no process held it (the resume took its lock)
        status = "interrupted" if plan.status == "running" else plan.status
        err.print(
            f"FairNAD: {what} {store.root} ({status}, {plan.counted} of {plan.budget} counted{change}, "
            f"device {plan.settings.train.device})",
            highlight=False,
            soft_wrap=True,
        )

    try:
        summary = _drive(
            lambda s, p: resume_run(s, p, budget=budget, device=device, on_plan=announce), store, None, quiet
        )
    except ResumeError as exc:
        raise UsageError(str(exc)) from None
    if plans and not plans[0].continues and summary["status"] in ("finished", "stopped"):
        err.print(
            f"the run is {summary['status']} with {summary['counted']} of {summary['budget']} counted; "
            f"to train more: fairnad resume {store.root} --budget N (N > {summary['counted']})",
            highlight=False,
            soft_wrap=True,
        )


# -- inspecting runs -------------------------------------------------------------------------
def _fmt_count(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1e6:.2f}M" if value >= 1e5 else f"{value / 1e3:.1f}k"


def _fmt_acc(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _print_summary(summary: dict[str, Any], root: Path, status: str | None = None) -> None:
    table = Table(title=f"{summary['run_id']} ({summary['dataset']}): {status or summary['status']}, "
                  f"{summary['counted']}/{summary['budget']} counted", title_justify="left")  # fmt: skip
    for column in (
        "id",
        "parent",
        "rnd",
        "kind",
        "transformation",
        "idea",
        "status",
        "params",
        "MACs",
        "val",
        "test",
        "s",
    ):
        table.add_column(column, overflow="fold")
    pareto = set(summary["pareto"])
    for c in summary["candidates"]:
        mark = "*" if c["id"] in pareto else ""
        status = c["status"] if not c["reason"] else f"{c['status']}: {c['reason'][:60]}"
        cells = (
            c["id"] + mark, c["parent"] or "-", str(c["round"]), c["mutation_type"],
            (c["transformation"] or "-")[:60], c["idea"] or "-", status, _fmt_count(c["params"]),
            _fmt_count(c["flops"]), _fmt_acc(c["val_acc"]), _fmt_acc(c["test_acc"]),
            "-" if c["seconds"] is None else f"{c['seconds']:.0f}",
        )  # fmt: skip
        table.add_row(*(escape(cell) for cell in cells))
    out.print(table)
    by_id = {c["id"]: c for c in summary["candidates"]}
    out.print(f"Pareto front (val accuracy up, params down, MACs down), {len(pareto)} candidates:")
    for cid in summary["pareto"]:
        c = by_id[cid]
        out.print(f"  {cid}  val {_fmt_acc(c['val_acc'])}  params {_fmt_count(c['params'])}  "
                  f"MACs {_fmt_count(c['flops'])}  {root / 'candidates' / cid / 'model.py'}", highlight=False)  # fmt: skip
    if summary["best"]:
        out.print(f"best: {summary['best']}", highlight=False)


@app.command()
def status(run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="the run directory")]) -> None:
    """Print a run's state, candidates table and Pareto front.

    The state is "running" only while a FairNAD process holds the run's lock; a run whose
    process was killed or stopped reads "interrupted", with the command that continues it.
    """
    store = RunStore(run_dir)
    summary = store.read_summary()
    state = summary["status"]
    holder = store.lock_holder()
    if holder is not None:  # a process works on it now (an extension of a finished run included)
        state = f"running (pid {holder})" if holder > 0 else "running"
    elif state == "running":
        state = "interrupted"
    _print_summary(summary, store.root, state)
    if summary["status"] == "stopped":
        out.print(f"stopped: {summary.get('stop_reason')}", highlight=False, markup=False, soft_wrap=True)
    if state == "interrupted":
        out.print(
            f"interrupted: no FairNAD process works on this run (it was killed or stopped before the end); "
            f"continue with: fairnad resume {store.root}",
            highlight=False,
            soft_wrap=True,
        )
    elif holder is None and summary["status"] in ("finished", "stopped"):
        out.print(f"to train more: fairnad resume {store.root} --budget N (N > {summary['counted']})", highlight=False)


def _id_ranges(ids: list[str]) -> str:
    """``0000, 0001, 0002, 0005`` -> ``0000-0002, 0005`` (numeric ids; others listed as they are)."""
    numeric = sorted(i for i in ids if i.isdigit())
    parts: list[str] = []
    start = prev = None
    for cid in numeric:
        if prev is not None and int(cid) == int(prev) + 1:
            prev = cid
            continue
        if start is not None:
            parts.append(start if start == prev else f"{start}-{prev}")
        start = prev = cid
    if start is not None:
        parts.append(start if start == prev else f"{start}-{prev}")
    return ", ".join(parts + sorted(i for i in ids if not i.isdigit()))


@app.command()
def trace(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="the run directory")],
    role: Annotated[
        str | None, typer.Option(help="only events whose role/tool column shows this (e.g. verifier, train)")
    ] = None,
    candidate: Annotated[str | None, typer.Option(help="only this candidate's events (1 or 0001)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="raw JSON lines")] = False,
) -> None:
    """Print a run's trace readably (every role step, tool call and error).

    Filters match what the table shows. A value the trace never holds is a usage error
    (exit 2) that lists the values it does hold; filters that each exist but never meet
    in one event print nothing and exit 1.
    """
    from graph.trace import actor, candidate_id, read_trace, trace_values

    store = RunStore(run_dir)
    store.info()
    if not store.trace_file.is_file():
        _fail(f"{store.trace_file} does not exist yet")
    if role is not None or candidate is not None:
        values = trace_values(store.trace_file)
        if role is not None and role.lower() not in values.actors:
            close = difflib.get_close_matches(role.lower(), values.actors, n=1)
            hint = f"; did you mean --role {close[0]}?" if close else ""
            raise UsageError(
                f"--role {role}: no event in this trace shows that role or tool{hint or '.'} "
                f"Roles and tools in it: {', '.join(values.actors)}"
            )
        if candidate is not None and candidate_id(candidate) not in values.candidates:
            raise UsageError(
                f"--candidate {candidate}: this trace has no events of candidate {candidate_id(candidate)}. "
                f"Candidates in it: {_id_ranges(values.candidates) or 'none yet'}"
            )
    shown = 0
    for event in read_trace(store.trace_file, role=role, candidate=candidate):
        shown += 1
        if as_json:
            _echo(json.dumps(event))
            continue
        ts = event["ts"][11:19]
        who = actor(event)
        cand = event.get("candidate") or ""
        line = f"{ts} {event['event']:<13} {who:<10} {cand:<5}"
        if "given" in event:
            line += f" {event['given']} -> {event.get('decided')}"
        else:
            extra = {k: v for k, v in event.items() if k not in ("v", "ts", "event", "role", "candidate", "tool")}
            line += " " + ", ".join(f"{k}={v}" for k, v in extra.items() if v is not None)
        if event.get("seconds") is not None:
            line += f" ({event['seconds']:.1f} s)"
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    if shown == 0:
        if role is not None and candidate is not None:
            err.print(
                f"no event shows both role/tool {role} and candidate {candidate_id(candidate)} "
                "(each occurs in the trace, never together)",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1)
        err.print("the trace holds no events yet", highlight=False)


# -- verify ----------------------------------------------------------------------------------
def _shape(text: str) -> tuple[int, int, int]:
    try:
        parts = tuple(int(p) for p in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) < 1:
        raise UsageError(f"--input-shape must be C,H,W with positive integers, e.g. 3,32,32 (got {text!r})")
    return parts  # type: ignore[return-value]


def _count(text: str, flag: str) -> int:
    try:
        value = parse_count(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    if not isinstance(value, int) or value <= 0:
        raise UsageError(f"{flag} must be a positive count such as 1500000, 1.5M or 200M (got {text!r})")
    return value


@app.command()
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
        file, parent=parent, input_shape=shape, num_classes=num_classes,
        max_params=_count(max_params, "--max-params"),
        max_flops=_count(max_flops, "--max-flops") if max_flops else VerifySettings().flops_budget(shape),
        timeout_s=timeout, memory_mb=memory_mb, train_batch=batch_size + 1 if batch_size else 0,
    )  # fmt: skip
    if as_json:
        _echo(report.model_dump_json(include={"ok", "code", "message", "params", "flops", "seconds",
                                              "weighted_layers", "signature", "macs_by_operator",
                                              "uncounted_ops", "weight_only_macs"}))  # fmt: skip
    else:
        colour = "green" if report.ok else "red"
        out.print(f"[{colour}]{escape(report.code)}[/]: {escape(report.message)}", highlight=False)
        out.print(f"params {_exact(report.params)}, MACs {_exact(report.flops)} per image, "
                  f"{report.seconds:.2f} s", highlight=False)  # fmt: skip
        if report.macs_by_operator is not None:
            out.print(_macs_line(report.macs_by_operator, report.uncounted_ops), highlight=False, markup=False)
        if report.weight_only_macs:
            out.print(f"plus {report.weight_only_macs:,} MACs on the weights alone, once per forward pass "
                      "(not per image, not in the total)", highlight=False, markup=False)  # fmt: skip
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


# -- roles, graph, config --------------------------------------------------------------------
@app.command()
def roles(config: ConfigOpt = None) -> None:
    """List the registered agent roles and where the configuration places them."""
    from agents.base import GateRole
    from agents.registry import list_roles

    settings = load_settings(config)
    placed = {getattr(settings.roles, p): f"{p} role" for p in ("extractor", "mutation", "feedback")}
    for i, name in enumerate(settings.roles.gates, 1):
        placed[name] = f"gate {i} of {len(settings.roles.gates)}"
    table = Table(title="FairNAD roles", title_justify="left")
    for column in ("role", "placed", "kind", "class", "what it does"):
        table.add_column(column, overflow="fold")
    for name, cls in list_roles().items():
        kind = "gate" if issubclass(cls, GateRole) else "role"
        table.add_row(name, placed.get(name, "-"), kind, f"{cls.__module__}.{cls.__qualname__}", cls.summary)
    out.print(table)


@app.command("graph")
def graph_cmd(config: ConfigOpt = None) -> None:
    """Print the configured state machine as a Mermaid diagram."""
    from graph.builder import build_graph

    settings = load_settings(config)
    from graph.context import RunContext

    RunContext.validate_roles(settings)
    _echo(build_graph(settings.roles).compile().get_graph().draw_mermaid())


@config_app.command("show")
def config_show(config: ConfigOpt = None) -> None:
    """Print the effective settings as TOML (defaults < file < FAIRNAD_* variables); secrets as ***."""
    settings = load_settings(config)
    data = to_toml_data(settings)
    for loc in secret_keys():
        value: Any = settings
        for part in loc:
            value = getattr(value, part)
        if value is not None:
            section = data
            for part in loc[:-1]:
                section = section.setdefault(part, {})
            section[loc[-1]] = "***"
    _echo(toml_text(data), end="")


@config_app.command("init")
def config_init(
    path: Annotated[Path, typer.Argument(metavar="[PATH]", help="file to write")] = Path("fairnad.toml"),
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing file")] = False,
) -> None:
    """Write an example settings file generated from the settings model."""
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    try:
        path.write_text(example_toml(), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    err.print(f"wrote {path}", highlight=False)


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="print the version and exit")] = False,
) -> None:
    if version:
        from graph import version as fairnad_version

        _echo(f"fairnad {fairnad_version()}")
        raise typer.Exit(0)


# -- usage errors ----------------------------------------------------------------------------
def _option_names(ctx: Any) -> list[str]:
    names: list[str] = []
    command = getattr(ctx, "command", None)
    if command is None:
        return names
    for param in command.get_params(ctx):
        names.extend(o for o in (*param.opts, *param.secondary_opts) if o.startswith("-"))
    return names


def _command_path(argv: list[str]) -> str:
    """The command a user typed (``fairnad config show``), for errors raised without a context."""
    import typer.main

    command: Any = typer.main.get_command(app)
    path = ["fairnad"]
    for arg in argv:
        if arg.startswith("-"):
            continue
        sub = command.commands.get(arg) if hasattr(command, "commands") else None
        if sub is None:
            break
        command = sub
        path.append(arg)
    return " ".join(path)


def _given_value(argv: list[str], opts: list[str]) -> str | None:
    """The text typed after an option (``--budget abc`` or ``--budget=abc``), for error messages."""
    for i, arg in enumerate(argv):
        for opt in opts:
            if arg == opt and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(f"{opt}="):
                return arg[len(opt) + 1 :]
    return None


def usage_message(exc: Exception, argv: list[str]) -> str:
    """One line for a usage error raised by the command-line parser (typer's bundled click).

    Names the command, what was wrong, the closest real option (``difflib`` over the
    command's own option names) and where the help is.
    """
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None) or _command_path(argv)
    helps = f"see '{path} --help'"
    param = getattr(exc, "param", None)
    if isinstance(exc, click_errors.NoSuchOption):
        options = _option_names(ctx)
        close = difflib.get_close_matches(exc.option_name, options, n=1)
        hint = f"; did you mean {close[0]}?" if close else ";"
        return f"{path}: no such option {exc.option_name}{hint} Options: {', '.join(options)}"
    text = exc.format_message().strip().rstrip(".")
    text = text[:1].lower() + text[1:]
    if isinstance(exc, click_errors.MissingParameter):
        about = getattr(param, "help", None)
        usage = ctx.get_usage().strip().removeprefix("Usage: ") if ctx is not None else path
        usage = re.sub(r"\{([^{}]+)\}", r"\1", usage)  # typer writes a required argument as {NAME}
        return f"{path}: {text}" + (f" ({about})" if about else "") + f"; usage: {usage}"
    if isinstance(exc, click_errors.BadParameter):
        opts = [o for o in getattr(param, "opts", []) if o.startswith("-")]
        given = _given_value(argv, opts) if opts else None
        got = f" (got {given!r})" if given is not None else ""
        return f"{path}: {text}{got}; {helps}"
    return f"{path}: {text}; {helps}"


def _run_app(args: list[str]) -> int:
    """Run the command; its exit code."""
    try:
        code = app(args=args, prog_name="fairnad", standalone_mode=False)  # returns typer.Exit's code
        return code if isinstance(code, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except click_errors.NoArgsIsHelpError as exc:  # 'fairnad' or 'fairnad config' alone: the help
        print(exc.ctx.get_help() if exc.ctx is not None else exc.format_message(), file=sys.stderr)
        return 2
    except click_errors.ClickException as exc:
        err.print(f"[bold red]error:[/] {escape(usage_message(exc, args))}", highlight=False, soft_wrap=True)
        return 2
    except USER_ERRORS as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted")
        return 130


def run_cli(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one ``error:`` line and a non-zero exit, never a traceback.

    A standard output closed by its reader (``fairnad trace RUN | head -1``) stops the command
    quietly with exit code 141, following Python's recipe for SIGPIPE: the rest of the output
    goes to ``os.devnull``, so the interpreter's last flush at exit finds no closed pipe either.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = _run_app(args)
        sys.stdout.flush()  # what is still buffered, while a closed pipe can be handled here
    except (StdoutClosed, BrokenPipeError):
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # no file descriptor behind sys.stdout: nothing is flushed to it
            pass
        code = EXIT_STDOUT_CLOSED
    sys.exit(code)
