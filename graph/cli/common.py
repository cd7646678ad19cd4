"""What every ``fairnad`` command shares: the command group class, the consoles, the shared options, errors.

The command modules (:mod:`graph.cli.run`, :mod:`graph.cli.status`, ...) import from here,
never from the package :mod:`graph.cli`, which imports them to register their commands.
"""

from __future__ import annotations

import difflib
import errno
import select
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from agents.llm import LLMProbeError
from fairnad_tools.data import DataError
from fairnad_tools.plugins import PluginError
from fairnad_tools.settings import TrainSettings
from graph.settings import SettingsError
from graph.store import RunDirError
from knowledge.store import StoreError
from knowledge.template import TemplateError

DEVICES = get_args(TrainSettings.model_fields["device"].annotation)


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


USER_ERRORS = (
    UsageError,
    SettingsError,
    RunDirError,
    DataError,
    TemplateError,
    StoreError,
    PluginError,
    LLMProbeError,
)


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
