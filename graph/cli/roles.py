"""``fairnad roles`` and ``fairnad graph``: what the configuration assembles (its roles, its state machine)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from graph.cli.common import ConfigOpt, _echo, out
from graph.settings import load_settings


def roles(config: ConfigOpt = None) -> None:
    """List the registered agent roles, search spaces and strategies, and where the configuration places them."""
    from importlib.metadata import entry_points

    import agents
    from agents.base import PARTS
    from agents.registry import ENTRY_POINT_GROUP, article, list_roles
    from fairnad_tools.spaces import SPACES
    from graph.strategies import STRATEGIES

    settings = load_settings(config)
    wanted = [(getattr(settings.roles, p), p, f"{p} role") for p in ("extractor", "mutation", "feedback")]
    count = len(settings.roles.gates)
    wanted += [(name, "gate", f"gate {i} of {count}") for i, name in enumerate(settings.roles.gates, 1)]
    registered = list_roles()
    table = Table(title="FairNAD roles", title_justify="left")
    for column in ("role", "placed", "kind", "runs", "class", "what it does"):
        table.add_column(column, overflow="fold")
    configured = settings.llm.provider != "none"
    for name, cls in registered.items():
        kind = next((part for part, base in PARTS.items() if issubclass(cls, base)), "none")
        places = [
            place if part == kind else f"{place} (cannot play it: not {article(part)} {part} role)"
            for role, part, place in wanted
            if role == name
        ]
        where = "; ".join(places) or "-"
        if cls.llm_mode:
            key = name if kind == "gate" else kind
            off = cls.llm_off(settings)
            if not configured:
                runs = "built-in (LLM mode: give --llm" + (f"; {off})" if off else ")")
            elif off:
                runs = f"built-in ({off})"
            else:
                runs = f"LLM {settings.llm.for_role(key).model}"
        else:
            runs = "built-in (no LLM mode)" if configured else "built-in"
        table.add_row(name, where, kind, runs, f"{cls.__module__}.{cls.__qualname__}", cls.summary)
    plugins = sorted(e.name for e in entry_points(group=ENTRY_POINT_GROUP))
    looked = (
        f"looked in the modules of {Path(agents.__path__[0])} and the {ENTRY_POINT_GROUP!r} entry points "
        f"({', '.join(plugins) or 'none installed'})"
    )
    for name, part, place in wanted:
        if name not in registered:
            table.add_row(name, f"{place} (NOT REGISTERED)", part, "-", "-", looked)
    out.print(table)
    for title, registry, chosen in (
        ("search spaces (search.space)", SPACES, settings.search.space),
        ("strategies (search.strategy)", STRATEGIES, settings.search.strategy),
    ):
        listing = Table(title=f"FairNAD {title}", title_justify="left")
        for column in ("name", "selected", "class", "what it does"):
            listing.add_column(column, overflow="fold")
        for name, cls in registry.items().items():
            selected = "yes" if name == chosen else "-"
            listing.add_row(name, selected, f"{cls.__module__}.{cls.__qualname__}", getattr(cls, "summary", ""))
        if chosen not in registry.names():
            listing.add_row(chosen, "yes (NOT REGISTERED)", "-", f"registered: {', '.join(registry.names())}")
        out.print(listing)


def graph_cmd(config: ConfigOpt = None) -> None:
    """Print the configured state machine as a Mermaid diagram."""
    from graph.builder import build_graph

    settings = load_settings(config)
    from graph.context import RunContext

    RunContext.validate_roles(settings)
    _echo(build_graph(settings.roles).compile().get_graph().draw_mermaid())
