"""The ``fairnad`` command line.

Heavy libraries (LangGraph, Chroma, sentence-transformers, torch) are imported inside
the commands that need them, so ``fairnad verify`` and ``fairnad --help`` start fast.

Exit codes: 0 done; 1 the work ran and failed (a run stopped, ``verify`` rejected the
model, ``trace`` filters that match nothing together); 2 a usage or setup error, reported
as one ``error:`` line before anything was done; 130 interrupted; 141 the standard output
was closed by its reader (``fairnad trace RUN | head -1``): the command stops quietly, as a
program killed by SIGPIPE does (128 + 13).

This module holds the typer ``app``, registers every command (in the order ``--help`` lists
them) and is the entry point, :func:`run_cli`. The commands live by group:

- :mod:`graph.cli.run`: ``run``, ``resume``
- :mod:`graph.cli.status`: ``status``, ``trace``
- :mod:`graph.cli.verify`: ``verify``
- :mod:`graph.cli.roles`: ``roles``, ``graph``
- :mod:`graph.cli.config`: ``config show``, ``config init``

What they share (the command group class, the consoles, ``_echo``, ``StdoutClosed``, the
shared options) is in :mod:`graph.cli.common`; the wording of the parser's usage errors in
:mod:`graph.cli.usage`. The command modules never import this package (it imports them).
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Annotated

import typer
from rich.markup import escape

from graph.cli import config, roles, run, status, verify
from graph.cli.common import EXIT_STDOUT_CLOSED, USER_ERRORS, StdoutClosed, _echo, _Group, err
from graph.cli.usage import click_errors, usage_message

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

app.command()(run.run)
app.command("resume")(run.resume_cmd)
app.command()(status.status)
app.command()(status.trace)
app.command()(verify.verify)
app.command()(roles.roles)
app.command("graph")(roles.graph_cmd)
config_app.command("show")(config.config_show)
config_app.command("init")(config.config_init)


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="print the version and exit")] = False,
) -> None:
    if version:
        from graph import version as fairnad_version

        _echo(f"fairnad {fairnad_version()}")
        raise typer.Exit(0)


def _show_warning(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
    """A FairNAD notice (a deprecated setting, ...) as one ``warning:`` line on stderr, no source line."""
    err.print(f"[bold yellow]warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


def _run_app(args: list[str]) -> int:
    """Run the command; its exit code."""
    warnings.showwarning = _show_warning
    try:
        code = app(args=args, prog_name="fairnad", standalone_mode=False)  # returns typer.Exit's code
        return code if isinstance(code, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except click_errors.NoArgsIsHelpError as exc:  # 'fairnad' or 'fairnad config' alone: the help
        print(exc.ctx.get_help() if exc.ctx is not None else exc.format_message(), file=sys.stderr)
        return 2
    except click_errors.ClickException as exc:
        err.print(f"[bold red]error:[/] {escape(usage_message(exc, args, app))}", highlight=False, soft_wrap=True)
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
