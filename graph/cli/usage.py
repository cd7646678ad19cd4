"""One ``error:`` line for a usage error raised by the command-line parser (typer's bundled click)."""

from __future__ import annotations

import difflib
import re
from typing import Any

import typer

try:  # typer >= 0.20 raises its own bundled copy of click's exceptions
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_errors


def _option_names(ctx: Any) -> list[str]:
    names: list[str] = []
    command = getattr(ctx, "command", None)
    if command is None:
        return names
    for param in command.get_params(ctx):
        names.extend(o for o in (*param.opts, *param.secondary_opts) if o.startswith("-"))
    return names


def _command_path(argv: list[str], app: typer.Typer) -> str:
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


def usage_message(exc: Exception, argv: list[str], app: typer.Typer) -> str:
    """One line for a usage error raised by the command-line parser (typer's bundled click).

    Names the command, what was wrong, the closest real option (``difflib`` over the
    command's own option names) and where the help is; ``app`` is the whole command line, whose
    commands name the one that was typed when the error carries no context.
    """
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None) or _command_path(argv, app)
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
