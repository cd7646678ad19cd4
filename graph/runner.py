"""Starting and resuming runs: the compiled graph over a SQLite checkpointer in the run dir.

Crash safety rests on four things: checkpoints written synchronously after every step
(``durability="sync"``), candidate ids taken from checkpointed state, atomic file writes,
and an idempotent train step that reuses a finished ``metrics.json``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

from fairnad_tools.datasets import check_dataset
from graph import version
from graph.builder import build_graph
from graph.context import ProgressFn, RunContext
from graph.settings import FairNADSettings, SettingsError, example_toml, settings_from_file, to_toml_data
from graph.state import RunState
from graph.store import RunDirError, RunStore


def recursion_limit(settings: FairNADSettings, budget: int) -> int:
    """Steps the graph may take: generous, but derived from the budget, not a library default."""
    verify = settings.verify
    retries = verify.debug_retries + verify.downscale_retries + verify.structure_retries
    retries += verify.review_retries * len(settings.roles.gates)
    per_round = 4 + (1 + len(settings.roles.gates)) * (retries + 2)
    rounds = budget + settings.search.max_consecutive_rejections + 2
    return 10 + rounds * per_round


def initial_state(run_id: str, budget: int) -> RunState:
    return RunState(
        run_id=run_id, budget=budget, round=0, next_id=0, candidates={}, batch=[], stats={},
        ideas={}, knowledge={}, consecutive_rejections=0, status="running", stop_reason=None,
    )  # fmt: skip


@contextmanager
def _compiled(store: RunStore, settings: FairNADSettings) -> Iterator[Any]:
    conn = sqlite3.connect(store.checkpoints, check_same_thread=False)
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        yield build_graph(settings.roles).compile(checkpointer=saver)
    finally:
        conn.close()


def _settings_toml(settings: FairNADSettings) -> str:
    import tomli_w

    return "# Resolved settings of this run (fairnad resume reads them).\n" + tomli_w.dumps(to_toml_data(settings))


def preflight(settings: FairNADSettings) -> None:
    """Checks that need no run directory: the dataset's files and the configured roles."""
    check_dataset(settings.data.dataset, settings.data.data_dir)
    RunContext.validate_roles(settings)
    from fairnad_tools.arch.seeds import SEEDS

    if settings.search.seed_model not in SEEDS:
        raise SettingsError(
            f"bad value for 'search.seed_model': {settings.search.seed_model!r} is not a built-in seed; "
            f"valid: {', '.join(SEEDS)}"
        )


def start_run(settings: FairNADSettings, store: RunStore, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Create the run in ``store`` and drive it to the end; returns ``summary.json``'s content."""
    preflight(settings)
    store.lock()
    try:
        run_id = store.create(_settings_toml(settings), version())
        state = initial_state(run_id, settings.search.budget)
        store.write_summary(state, settings.data.dataset)
        return _drive(store, settings, run_id, state, progress)
    finally:
        store.unlock()


def resume_run(store: RunStore, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Continue the run in ``store`` from its last checkpoint."""
    info = store.info()
    store.lock()
    try:
        settings = settings_from_file(store.settings_file)
        run_id = info["run_id"]
        with _compiled(store, settings) as app:
            snapshot = app.get_state({"configurable": {"thread_id": run_id}})
        if snapshot.values and not snapshot.next:
            summary = store.build_summary(snapshot.values, settings.data.dataset)
            store.write_summary(snapshot.values, settings.data.dataset)
            return summary
        state = None if snapshot.values else initial_state(run_id, settings.search.budget)
        return _drive(store, settings, run_id, state, progress, resumed=True)
    finally:
        store.unlock()


def _drive(
    store: RunStore,
    settings: FairNADSettings,
    run_id: str,
    state: RunState | None,
    progress: ProgressFn | None,
    resumed: bool = False,
) -> dict[str, Any]:
    ctx = RunContext.create(settings, store, progress)
    budget = settings.search.budget
    config = {"configurable": {"thread_id": run_id}, "recursion_limit": recursion_limit(settings, budget)}
    ctx.tracer.emit("run_resumed" if resumed else "run_started", run_id=run_id, budget=budget,
                    dataset=settings.data.dataset)  # fmt: skip
    try:
        with _compiled(store, settings) as app:
            final = app.invoke(state, config, context=ctx, durability="sync")
        summary = store.write_summary(final, settings.data.dataset)
        ctx.tracer.emit("run_ended", status=summary["status"], stop_reason=summary.get("stop_reason"),
                        counted=summary["counted"], best=summary["best"], pareto=summary["pareto"])  # fmt: skip
        return summary
    except BaseException as exc:
        ctx.tracer.emit("error", message=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    finally:
        ctx.executor.close()
        ctx.tracer.close()


__all__ = ["RunDirError", "example_toml", "resume_run", "start_run"]
