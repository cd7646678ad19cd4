"""``fairnad status`` and ``fairnad trace``: read a run's folder (its summary table, its trace)."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from graph.cli.common import UsageError, _echo, _fail, err, out
from graph.store import RunStore


def _fmt_count(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1e6:.2f}M" if value >= 1e5 else f"{value / 1e3:.1f}k"


def _fmt_acc(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _print_summary(summary: dict[str, Any], root: Path, status: str | None = None) -> None:
    table = Table(
        title=f"{summary['run_id']} ({summary['dataset']}): {status or summary['status']}, "
        f"{summary['counted']}/{summary['budget']} counted",
        title_justify="left",
    )
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
            c["id"] + mark,
            c["parent"] or "-",
            str(c["round"]),
            c["mutation_type"],
            (c["transformation"] or "-")[:60],
            c["idea"] or "-",
            status,
            _fmt_count(c["params"]),
            _fmt_count(c["flops"]),
            _fmt_acc(c["val_acc"]),
            _fmt_acc(c["test_acc"]),
            "-" if c["seconds"] is None else f"{c['seconds']:.0f}",
        )
        table.add_row(*(escape(cell) for cell in cells))
    out.print(table)
    by_id = {c["id"]: c for c in summary["candidates"]}
    out.print(f"Pareto front (val accuracy up, params down, MACs down), {len(pareto)} candidates:")
    for cid in summary["pareto"]:
        c = by_id[cid]
        out.print(
            f"  {cid}  val {_fmt_acc(c['val_acc'])}  params {_fmt_count(c['params'])}  "
            f"MACs {_fmt_count(c['flops'])}  {root / 'candidates' / cid / 'model.py'}",
            highlight=False,
        )
    if summary["best"]:
        out.print(f"best: {summary['best']}", highlight=False)


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
    reason = str(summary.get("stop_reason") or "").replace("RUN_DIR", str(store.root))
    if summary["status"] == "stopped":
        out.print(f"stopped: {reason}", highlight=False, markup=False, soft_wrap=True)
    if state == "interrupted":
        out.print(
            f"interrupted: no FairNAD process works on this run (it was killed or stopped before the end); "
            f"continue with: fairnad resume {store.root}",
            highlight=False,
            soft_wrap=True,
        )
    elif holder is None and summary["status"] in ("finished", "stopped") and "LLM budget reached" not in reason:
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


def trace(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="the run directory")],
    role: Annotated[
        str | None, typer.Option(help="only events whose role/tool column shows this (e.g. verifier, train)")
    ] = None,
    candidate: Annotated[str | None, typer.Option(help="only this candidate's events (1 or 0001)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="raw JSON lines")] = False,
    llm: Annotated[
        bool, typer.Option("--llm", help="with --candidate: print its LLM conversation (prompts and answers)")
    ] = False,
) -> None:
    """Print a run's trace readably (every role step, tool call and error).

    Filters match what the table shows. A value the trace never holds is a usage error
    (exit 2) that lists the values it does hold; filters that each exist but never meet
    in one event print nothing and exit 1. ``--candidate ID --llm`` prints the candidate's
    stored LLM exchanges instead (``candidates/ID/llm/NN-<role>.json``).
    """
    from graph.trace import actor, candidate_id, read_trace, trace_values

    store = RunStore(run_dir)
    store.info()
    if llm:
        _print_conversation(store, candidate, role, as_json)
        return
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


def _print_conversation(store: RunStore, candidate: str | None, role: str | None, as_json: bool) -> None:
    """Print candidate ``candidate``'s LLM exchanges: each prompt message and the answer, with usage."""
    from graph.trace import candidate_id

    if candidate is None:
        raise UsageError("--llm prints one candidate's conversation: give --candidate ID as well")
    cid = candidate_id(candidate)
    if not store.candidate_dir(cid).is_dir():
        raise UsageError(f"--candidate {candidate}: run {store.root} has no candidate {cid}")
    files = [p for p in store.exchange_files(cid) if role is None or p.stem.split("-", 1)[1] == role.lower()]
    if not files:
        why = f" by role {role}" if role else ""
        err.print(f"candidate {cid} made no LLM call{why} (its roles ran built-in)", highlight=False)
        raise typer.Exit(1)
    shown_system: str | None = None
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        if as_json:
            _echo(json.dumps(data))
            continue
        usage = (
            f"{data.get('tokens_in')} in / {data.get('tokens_out')} out"
            + (" (estimated)" if data.get("tokens_estimated") else "")
            + f", {data.get('latency_s', 0):.1f} s, method {data.get('method')}"
            + (", answered from a recording" if data.get("replayed") else "")
        )
        out.rule(f"{path.name}: {data.get('purpose')} (attempt {data.get('attempt')}) - {usage}", align="left")
        for message in data.get("messages", []):
            content = message.get("content", "")
            if message.get("role") == "system":  # the same system prompt is printed once
                if content == shown_system:
                    out.print("[system] (as above)", style="bold", highlight=False, markup=False)
                    continue
                shown_system = content
            out.print(f"[{message.get('role')}]", style="bold", highlight=False, markup=False)
            out.print(content, highlight=False, markup=False, soft_wrap=True)
        out.print("[answer]", style="bold", highlight=False, markup=False)
        out.print(data.get("answer") or "", highlight=False, markup=False, soft_wrap=True)
        if data.get("error"):
            out.print(f"[error] {data['error']}", highlight=False, markup=False, soft_wrap=True)
