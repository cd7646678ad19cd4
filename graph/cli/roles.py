"""``fairnad roles`` and ``fairnad graph``: what the configuration assembles (its roles, its state machine)."""

from __future__ import annotations

from rich.table import Table

from graph.cli.common import ConfigOpt, _echo, out
from graph.settings import load_settings


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


def graph_cmd(config: ConfigOpt = None) -> None:
    """Print the configured state machine as a Mermaid diagram."""
    from graph.builder import build_graph

    settings = load_settings(config)
    from graph.context import RunContext

    RunContext.validate_roles(settings)
    _echo(build_graph(settings.roles).compile().get_graph().draw_mermaid())
