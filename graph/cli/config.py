"""``fairnad config show`` and ``fairnad config init``: the effective settings, an example settings file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from graph.cli.common import ConfigOpt, UsageError, _echo, err
from graph.settings import example_toml, load_settings, secret_keys, to_toml_data, toml_text


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
