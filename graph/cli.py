"""The ``fairnad`` command line.

Heavy libraries (LangGraph, Chroma, sentence-transformers, torch) are imported inside
the commands that need them, so ``fairnad verify`` and ``fairnad --help`` start fast.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agents.registry import RoleRegistryError
from fairnad_tools.datasets import DataError
from fairnad_tools.settings import parse_count
from graph.settings import SettingsError, example_toml, load_settings, to_toml_data
from graph.store import RunDirError, RunStore
from knowledge.store import StoreError
from knowledge.template import TemplateError

USER_ERRORS = (SettingsError, RunDirError, DataError, TemplateError, StoreError, RoleRegistryError)

app = typer.Typer(
    name="fairnad",
    help="FairNAD: open-ended neural architecture search driven by agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Show or create settings files.", no_args_is_help=True)
app.add_typer(config_app, name="config")

out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML settings file (default: $FAIRNAD_CONFIG, else ./fairnad.toml)"),
]


class UsageError(Exception):
    """Bad command-line input: printed without a traceback, exit code 2."""


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


# -- run, resume ----------------------------------------------------------------------------
def _default_run_dir() -> Path:
    return Path("runs") / time.strftime("run-%Y%m%d-%H%M%S")


def _overrides(**flags: Any) -> dict[str, Any]:
    mapping = {
        "budget": ("search", "budget"),
        "seed": ("search", "seed"),
        "dataset": ("data", "dataset"),
        "data_dir": ("data", "data_dir"),
        "epochs": ("train", "epochs"),
        "device": ("train", "device"),
    }
    result: dict[str, dict[str, Any]] = {}
    for key, value in flags.items():
        if value is not None:
            section, name = mapping[key]
            result.setdefault(section, {})[name] = value
    return result


class _Progress:
    """A rich progress bar fed by the graph: candidates done of the budget, best accuracy."""

    def __init__(self, budget: int, quiet: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.quiet = quiet
        self.best: float | None = None
        self.progress = Progress(
            TextColumn("[bold]candidates"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[best]}"), TimeElapsedColumn(),
            console=err, disable=quiet, transient=False,
        )  # fmt: skip
        self.task = self.progress.add_task("run", total=budget, best="best val -")

    def __call__(self, event: dict[str, Any]) -> None:
        if event.get("best") is not None:
            self.best = event["best"]
        best = f"best val {self.best:.2%}" if self.best is not None else "best val -"
        self.progress.update(self.task, completed=event.get("counted", 0), best=best)

    def __enter__(self) -> _Progress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def _drive(fn: Any, store: RunStore, budget: int, quiet: bool) -> None:
    done = store.read_summary().get("counted", 0) if store.summary_file.is_file() else 0
    try:
        with _Progress(budget, quiet) as progress:
            progress({"counted": done})
            summary = fn(store, progress)
    except KeyboardInterrupt:
        _fail(f"interrupted; finished candidates are kept. Continue with: fairnad resume {store.root}", 130)
    _print_summary(summary, store.root)
    if summary["status"] == "stopped":
        _fail(f"the run stopped: {summary.get('stop_reason')}", 1)


@app.command()
def run(
    run_dir: Annotated[
        Path | None, typer.Option("--run-dir", "-o", help="run directory (default: runs/run-<time>)")
    ] = None,
    budget: Annotated[int | None, typer.Option(help="candidates that reach training")] = None,
    dataset: Annotated[str | None, typer.Option(help="digits (bundled), cifar10, cifar100")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="folder with the CIFAR files")] = None,
    epochs: Annotated[int | None, typer.Option(help="training epochs per candidate")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda")] = None,
    seed: Annotated[int | None, typer.Option(help="search seed")] = None,
    config: ConfigOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue the run already in --run-dir")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Run a search (by default: the bundled digits data, built-in agents, the CPU)."""
    from graph.runner import preflight, start_run

    store = RunStore(run_dir or _default_run_dir())
    if resume:
        if store.holds_run():
            resume_cmd(store.root, quiet)
            return
        _fail(f"--resume: {store.root} holds no run to resume; drop --resume to start one there")
    settings = load_settings(
        config,
        _overrides(budget=budget, seed=seed, dataset=dataset, data_dir=data_dir, epochs=epochs, device=device),
    )
    preflight(settings)
    store.check_new()
    err.print(
        f"FairNAD run in [bold]{store.root}[/]: {settings.data.dataset}, budget {settings.search.budget}, "
        f"llm {settings.llm.provider}, device {settings.train.device}",
        highlight=False,
    )
    _drive(lambda s, p: start_run(settings, s, p), store, settings.search.budget, quiet)


@app.command("resume")
def resume_cmd(
    run_dir: Annotated[Path, typer.Argument(help="the run directory")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Continue an interrupted run from its last checkpoint (finished candidates are kept)."""
    from graph.runner import resume_run

    store = RunStore(run_dir)
    store.info()
    budget = _saved_budget(store)
    err.print(f"FairNAD: resuming {store.root}", highlight=False)
    _drive(lambda s, p: resume_run(s, p), store, budget, quiet)


def _saved_budget(store: RunStore) -> int:
    from graph.settings import settings_from_file

    return settings_from_file(store.settings_file).search.budget


# -- inspecting runs -------------------------------------------------------------------------
def _fmt_count(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1e6:.2f}M" if value >= 1e5 else f"{value / 1e3:.1f}k"


def _fmt_acc(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _print_summary(summary: dict[str, Any], root: Path) -> None:
    table = Table(title=f"{summary['run_id']} ({summary['dataset']}): {summary['status']}, "
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
def status(run_dir: Annotated[Path, typer.Argument(help="the run directory")]) -> None:
    """Print a run's candidates table and Pareto front."""
    store = RunStore(run_dir)
    summary = store.read_summary()
    _print_summary(summary, store.root)
    if summary["status"] == "stopped":
        out.print(f"stopped: {summary.get('stop_reason')}")


@app.command()
def trace(
    run_dir: Annotated[Path, typer.Argument(help="the run directory")],
    role: Annotated[str | None, typer.Option(help="only this role's events")] = None,
    candidate: Annotated[str | None, typer.Option(help="only this candidate's events")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="raw JSON lines")] = False,
) -> None:
    """Print a run's trace readably (every role step, tool call and error)."""
    from graph.trace import read_trace

    store = RunStore(run_dir)
    store.info()
    if not store.trace_file.is_file():
        _fail(f"{store.trace_file} does not exist yet")
    shown = 0
    for event in read_trace(store.trace_file, role=role, candidate=candidate):
        shown += 1
        if as_json:
            print(json.dumps(event))
            continue
        ts = event["ts"][11:19]
        who = event.get("role") or event.get("tool") or "-"
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
        err.print("no matching events", highlight=False)


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
    file: Annotated[Path, typer.Argument(help="candidate model.py")],
    parent: Annotated[Path | None, typer.Option(help="parent model.py: also check the architecture changed")] = None,
    input_shape: Annotated[str, typer.Option(help="C,H,W")] = "3,32,32",
    num_classes: Annotated[int, typer.Option(min=1, help="classes of the output layer")] = 10,
    max_params: Annotated[str, typer.Option(help="parameter budget (1.5M)")] = "1.5M",
    max_flops: Annotated[str, typer.Option(help="multiply-accumulates per image (200M)")] = "200M",
    timeout: Annotated[float, typer.Option(min=0.1, help="seconds")] = 20.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON report")] = False,
) -> None:
    """Verify a candidate file; exit 0 when it passes, 1 when rejected, 2 on usage errors."""
    from fairnad_tools.forkserver import set_enabled
    from fairnad_tools.verify import verify_file

    set_enabled(False)  # one verification: a plain child starts sooner than a fork server
    for path, what in ((file, "FILE"), (parent, "--parent")):
        if path is not None and not path.is_file():
            raise UsageError(f"{what}: {path} does not exist or is not a file")
    report = verify_file(
        file, parent=parent, input_shape=_shape(input_shape), num_classes=num_classes,
        max_params=_count(max_params, "--max-params"), max_flops=_count(max_flops, "--max-flops"),
        timeout_s=timeout,
    )  # fmt: skip
    if as_json:
        print(report.model_dump_json(include={"ok", "code", "message", "params", "flops", "seconds",
                                              "weighted_layers", "signature"}))  # fmt: skip
    else:
        colour = "green" if report.ok else "red"
        out.print(f"[{colour}]{report.code}[/]: {report.message}", highlight=False)
        out.print(f"params {_fmt_count(report.params)}, MACs {_fmt_count(report.flops)}, "
                  f"{report.seconds:.2f} s", highlight=False)  # fmt: skip
    raise typer.Exit(0 if report.ok else 1)


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
    print(build_graph(settings.roles).compile().get_graph().draw_mermaid())


@config_app.command("show")
def config_show(config: ConfigOpt = None) -> None:
    """Print the effective settings (defaults < file < FAIRNAD_* variables)."""
    import tomli_w

    settings = load_settings(config)
    data = to_toml_data(settings)
    if settings.llm.api_key is not None:
        data.setdefault("llm", {})["api_key"] = "***"
    print(tomli_w.dumps(data), end="")


@config_app.command("init")
def config_init(
    path: Annotated[Path, typer.Argument(help="file to write")] = Path("fairnad.toml"),
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

        print(f"fairnad {fairnad_version()}")
        raise typer.Exit(0)


def run_cli(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one clear line and a non-zero exit, never a traceback."""
    try:
        code = app(args=argv, standalone_mode=False)  # click returns the code of typer.Exit here
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (UsageError, *USER_ERRORS) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2 if isinstance(exc, UsageError | SettingsError) else 1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # click's own usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
