"""Starting and resuming runs: the compiled graph over a SQLite checkpointer in the run dir.

Crash safety rests on four things: checkpoints written synchronously after every step
(``durability="sync"``), candidate ids taken from checkpointed state, atomic file writes,
and an idempotent train step that reuses a finished ``metrics.json``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from fairnad_tools.data import check_dataset
from fairnad_tools.io import atomic_write_text
from graph import version
from graph.builder import build_graph
from graph.context import ProgressFn, RunContext, llm_roles, make_plugins, make_roles
from graph.seeds import check_seed
from graph.settings import (
    FairNADSettings,
    Layer,
    SettingsError,
    absolute_paths,
    example_toml,
    resumed_settings,
    settings_from_file,
    to_toml_data,
    toml_text,
    validate_layer,
)
from graph.state import FINAL_STATUSES, RunState, counted
from graph.store import RunDirError, RunStore, llm_totals
from knowledge.store import check_embedding_model


def recursion_limit(settings: FairNADSettings, budget: int) -> int:
    """Steps the graph may take: generous, but derived from the budget, not a library default."""
    limits = settings.roles.retries
    retries = limits.execution + limits.budget + limits.structure
    retries += limits.review * len(settings.roles.gates)
    per_round = 4 + (1 + len(settings.roles.gates)) * (retries + 2)
    rounds = budget + settings.search.max_consecutive_rejections + 2
    return 10 + rounds * per_round


def initial_state(run_id: str, budget: int) -> RunState:
    return RunState(
        run_id=run_id,
        budget=budget,
        round=0,
        next_id=0,
        candidates={},
        batch=[],
        stats={},
        knowledge={},
        consecutive_rejections=0,
        consecutive_role_errors=0,
        consecutive_llm_failures=0,
        status="running",
        stop_reason=None,
    )


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
    return "# Resolved settings of this run (fairnad resume reads them).\n" + toml_text(to_toml_data(settings))


def check_threads(threads: int) -> None:
    """Refuse ``train.threads`` above this machine's CPU cores (0 means all of them).

    More threads than cores makes every training crawl (the threads only take turns), so the
    value is a mistake, not a preference. Raises :class:`SettingsError` with the valid range.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if threads > cores:
        raise SettingsError(
            f"bad value for 'train.threads': {threads}, but this machine gives FairNAD {cores} CPU core(s); "
            f"use 0 (all cores) or a number from 1 to {cores}"
        )


def check_device(device: str) -> None:
    """Refuse ``train.device = "cuda"`` when torch sees no CUDA GPU; ``auto`` and ``cpu`` always pass.

    Without this check every candidate would fail in its training worker, after the run
    folder exists (``fairnad_tools.train.worker`` raises the same fault there).
    Raises :class:`SettingsError` with the fix.
    """
    if device != "cuda":
        return
    import torch

    if torch.cuda.is_available():
        return
    if torch.version.cuda is None:
        why = f"this torch build ({torch.__version__}) has no CUDA support"
    else:
        why = (
            f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU: check the driver "
            "(nvidia-smi) and CUDA_VISIBLE_DEVICES"
        )
    raise SettingsError(
        f"bad value for 'train.device': 'cuda', but {why}. Use --device auto (the GPU when one is "
        "visible, else the CPU) or --device cpu"
    )


def preflight(settings: FairNADSettings, *, bank_kept: bool = False) -> None:
    """Every check that needs no run directory, so a doomed run never creates one.

    In order, cheapest first: the seed model, the configured roles and the knowledge they
    load (template, idea files), the embedding model (present offline), the training device
    and threads, then the dataset's files and content
    (:func:`fairnad_tools.data.check_dataset`). Called before a run folder is created
    and again when a run is resumed (the machine or the data may have changed since); a
    resumed run that keeps its idea bank (``bank_kept``) never reads the idea files again.
    Raises :class:`SettingsError`, :class:`RoleRegistryError`, ``TemplateError``,
    ``StoreError`` or ``DataError``, each naming the problem and the fix.
    """
    space, _ = make_plugins(settings)
    check_seed(settings, space, llm=settings.llm.provider != "none")
    roles = make_roles(settings, space)
    check_llm_role_keys(settings)
    build_graph(settings.roles)  # gate names must not clash with the graph's own nodes
    load_bank = getattr(roles.extractor, "load_bank", None)
    if callable(load_bank) and not bank_kept:  # the template and idea files the run will read
        load_bank()
    check_embedding_model(settings.knowledge.embedding_model)
    check_device(settings.train.device)
    check_threads(settings.train.threads)
    check_dataset(settings.data.dataset, settings.data.data_dir)


def check_llm_role_keys(settings: FairNADSettings) -> None:
    """Every ``[llm.roles.<key>]`` must name a configured role (a typo would be silently unused).

    Raises :class:`SettingsError` with the closest key and the valid ones.
    """
    import difflib

    from graph.context import role_classes

    known = list(role_classes(settings))
    for key in settings.llm.roles:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean [llm.roles.{close[0]}]?" if close else ""
            raise SettingsError(
                f"bad key in [llm.roles]: {key!r} is not a configured role{hint} Roles: {', '.join(known)}"
            )


def check_llm(settings: FairNADSettings) -> None:
    """The configured LLM answers, before any work: one minimal chat call per distinct endpoint and model.

    Only roles that will use the LLM are probed (``graph.context.llm_roles``). A replay needs a
    recorded run with LLM exchanges. Raises ``LLMProbeError`` (unreachable endpoint, refused
    model or key) or :class:`SettingsError`, each one line naming the fix.
    """
    if settings.llm.provider == "none":
        return
    if settings.llm.provider == "replay":
        check_replay(settings)
        return
    from agents.llm import Ledger, make_client

    probed: set[tuple[str | None, str]] = set()
    for key, how in llm_roles(settings).items():
        llm = settings.llm.for_role(key)
        if how != "llm" or (llm.base_url, llm.model) in probed:
            continue
        probed.add((llm.base_url, llm.model))
        client = make_client(llm, key, Ledger(llm))
        if client is not None:
            client.probe()


def check_replay(settings: FairNADSettings) -> None:
    """A replay's source must be a FairNAD run holding recorded LLM exchanges (``llm.replay_dir``)."""
    source = settings.llm.replay_dir
    if source is None or not RunStore(source).holds_run():
        raise SettingsError(f"--llm replay:{source}: that folder holds no FairNAD run to replay")
    if not any(Path(source).glob("candidates/*/llm/*.json")):
        raise SettingsError(
            f"--llm replay:{source}: that run made no LLM call, so there is nothing to replay (it ran built-in)"
        )


def check_start(settings: FairNADSettings, store: RunStore) -> None:
    """All a new run needs, checked before its folder exists: the folder, :func:`preflight`, the LLM."""
    store.check_new()
    preflight(settings)
    check_llm(settings)


def start_run(
    settings: FairNADSettings, store: RunStore, progress: ProgressFn | None = None, *, checked: bool = False
) -> dict[str, Any]:
    """Create the run in ``store`` and drive it to the end; returns ``summary.json``'s content.

    Runs :func:`check_start` first unless the caller has (``checked=True``), so nothing is
    created when a check fails.
    """
    if not checked:
        check_start(settings, store)
    settings = absolute_paths(settings)  # a resume may be typed in another folder
    store.lock()
    try:
        run_id = store.create(_settings_toml(settings), version())
        state = initial_state(run_id, settings.search.budget)
        store.write_summary(state, settings.data.dataset)
        return _drive(store, settings, run_id, state, progress)
    finally:
        store.unlock()


class ResumeError(ValueError):
    """A resume cannot do what was asked (a budget below what the run has counted, a flag with nothing to act on)."""


@dataclass(frozen=True)
class ResumePlan:
    """What a resume will do, decided under the run's lock before anything runs.

    ``budget`` is the run's budget from now on; ``counted`` the candidates that reached
    training so far, ``in_flight`` those planned but not final (each may still count);
    ``continues`` is False when the run is over and stays over (nothing to run).
    """

    settings: FairNADSettings
    budget: int
    previous_budget: int
    counted: int
    in_flight: int
    status: str
    continues: bool


def plan_resume(
    store: RunStore,
    values: RunState,
    saved: FairNADSettings,
    *,
    budget: int | None = None,
    device: str | None = None,
    env: Mapping[str, str] | None = None,
    llm_overrides: Mapping[str, Any] | None = None,
) -> ResumePlan:
    """Decide a resume from the checkpointed ``values`` and the flags; raise before anything changes.

    The budget is ``budget`` when given, else the saved one (which an earlier extension
    wrote). It may be anything from the candidates counted plus those in flight upwards:
    larger extends the run, finished or stopped ones included, from its current state
    (candidates, statistics, next id); smaller raises :class:`ResumeError`. A stopped run
    (too many rejections in a row) is continued only when ``budget`` is given, and then
    gets a fresh count of rejections. ``device``
    replaces ``train.device``. Secrets come from ``env`` again; other ``FAIRNAD_*``
    variables must agree with the saved settings (:func:`resumed_settings`). ``llm_overrides``
    (``max_llm_calls``, ``max_tokens``, ``max_cost_usd``, ``base_url``) replace the saved LLM
    budgets or endpoint; a budget must exceed what the run has spent, and a run stopped by an
    LLM budget continues when one is given.
    """
    flags: dict[tuple[str, ...], str] = {}
    overrides: dict[str, dict[str, Any]] = {}
    if budget is not None:
        flags[("search", "budget")] = "--budget"
        overrides.setdefault("search", {})["budget"] = budget
    if device is not None:
        flags[("train", "device")] = "--device"
        overrides.setdefault("train", {})["device"] = device
    for key, value in (llm_overrides or {}).items():
        if value is not None:
            flags[("llm", key)] = "--llm-base-url" if key == "base_url" else "--" + key.replace("_", "-")
            overrides.setdefault("llm", {})[key] = value
    _check_llm_budgets(store, overrides.get("llm", {}))
    if overrides:
        validate_layer(overrides, Layer("command-line option", flags))
    settings = resumed_settings(saved, store.settings_file, env, overridden=flags)
    candidates = dict(values.get("candidates", {}))
    done = counted(values)
    in_flight = sum(1 for c in candidates.values() if c["status"] not in FINAL_STATUSES)
    previous = int(values.get("budget", saved.search.budget))
    status = str(values.get("status", "running")) if values else "running"
    target = budget if budget is not None else saved.search.budget
    floor = done + in_flight
    if target < floor:
        what = f"{done} candidates counted" + (f" and {in_flight} in flight" if in_flight else "")
        raise ResumeError(
            f"--budget {target} is below what run {store.root} already holds ({what}); the budget "
            f"counts candidates that reached training, so give --budget {floor} or more (now {previous})"
        )
    over = status in ("finished", "stopped")
    # a stopped run (too many rejections in a row) is tried again only when asked for with --budget
    asked = budget is not None or target != previous or "llm" in overrides
    continues = not over or (target > done and (status == "finished" or asked))
    if not continues and device is not None:
        raise ResumeError(
            f"--device has nothing to act on: run {store.root} is {status} with {done} of {target} counted; "
            f"extend it with --budget N (N > {done}) to train more, or drop --device"
        )
    train = settings.train if device is None else settings.train.model_copy(update={"device": device})
    search = settings.search.model_copy(update={"budget": target})  # both validated above
    llm = settings.llm.model_copy(update=overrides.get("llm", {}))
    settings = settings.model_copy(update={"search": search, "train": train, "llm": llm})
    return ResumePlan(settings, target, previous, done, in_flight, status, continues)


def _check_llm_budgets(store: RunStore, wanted: Mapping[str, Any]) -> None:
    """A raised LLM budget must exceed what the run has spent (else it would stop again at once)."""
    totals = llm_totals(store.llm_usage()[1])
    spent = {
        "max_llm_calls": (totals["calls"], "calls"),
        "max_tokens": (totals["tokens_in"] + totals["tokens_out"], "tokens in and out"),
    }
    if totals["cost_usd"] != "not reported":
        spent["max_cost_usd"] = (totals["cost_usd"], "USD")
    for key, (used, unit) in spent.items():
        value = wanted.get(key)
        if value is not None and value <= used:
            raise ResumeError(
                f"--{key.replace('_', '-')} {value:g} does not exceed what run {store.root} has spent "
                f"({used:g} {unit}); give more, e.g. --{key.replace('_', '-')} {used * 2 or 1:g}"
            )


def resume_run(
    store: RunStore,
    progress: ProgressFn | None = None,
    *,
    budget: int | None = None,
    device: str | None = None,
    env: Mapping[str, str] | None = None,
    on_plan: Callable[[ResumePlan], None] | None = None,
    llm_overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Continue the run in ``store`` from its last checkpoint, with a new budget or device if given.

    A finished or stopped run continues when the budget grows past what it counted;
    otherwise its summary is returned unchanged. Everything is checked (the budget, the
    environment, :func:`preflight` on the resulting settings) under the run's lock before
    anything is written; then a changed budget or device is saved to ``settings.toml``,
    so a later plain resume keeps it, and the checkpointed state takes the new budget.
    ``on_plan`` is told the decided :class:`ResumePlan` before the run continues.
    Raises :class:`ResumeError`, :class:`SettingsError`, :class:`RunDirError` (and the
    errors of :func:`preflight`).
    """
    info = store.info()
    store.lock()
    try:
        saved = settings_from_file(store.settings_file)
        run_id = info["run_id"]
        with _compiled(store, saved) as app:
            snapshot = app.get_state({"configurable": {"thread_id": run_id}})
        values = cast(RunState, dict(snapshot.values or {}))
        plan = plan_resume(store, values, saved, budget=budget, device=device, env=env, llm_overrides=llm_overrides)
        bank_kept = store.read_bank() is not None
        if not bank_kept and values.get("knowledge") and "ideas" not in values:
            # this run kept its bank (its state has no idea map, as runs before the bank file had)
            raise RunDirError(
                f"the run's idea bank {store.bank_file} is missing; a resumed run never reads the idea files "
                "again (they may have changed), so restore the file from a backup, or start a new run"
            )
        if plan.continues:
            preflight(plan.settings, bank_kept=bank_kept)
            check_llm(plan.settings)
        if on_plan is not None:
            on_plan(plan)
        if not plan.continues:
            return store.write_summary(values, saved.data.dataset)
        settings = plan.settings
        if to_toml_data(settings) != to_toml_data(saved):
            atomic_write_text(store.settings_file, _settings_toml(settings))
        if values and (plan.status != "running" or plan.budget != plan.previous_budget):
            # status and summary show the extension at once, not after its first round
            store.write_summary(
                cast(RunState, {**values, "budget": plan.budget, "status": "running", "stop_reason": None}),
                settings.data.dataset,
            )
        if progress is not None:
            progress({"counted": plan.counted, "budget": plan.budget})
        start: RunState | Command | None
        if not values:
            start = initial_state(run_id, settings.search.budget)
        elif plan.status in ("finished", "stopped"):
            start = Command(
                update={
                    "budget": plan.budget,
                    "status": "running",
                    "stop_reason": None,
                    "consecutive_rejections": 0,
                    "consecutive_role_errors": 0,
                    "consecutive_llm_failures": 0,
                },
                goto="plan_round",
            )
        elif plan.budget != plan.previous_budget:
            start = Command(update={"budget": plan.budget})
        else:
            start = None
        extended = plan.previous_budget if plan.budget != plan.previous_budget else None
        return _drive(store, settings, run_id, start, progress, resumed=True, previous_budget=extended)
    finally:
        store.unlock()


def _drive(
    store: RunStore,
    settings: FairNADSettings,
    run_id: str,
    start: RunState | Command | None,
    progress: ProgressFn | None,
    resumed: bool = False,
    previous_budget: int | None = None,
) -> dict[str, Any]:
    ctx = RunContext.create(settings, store, progress)
    budget = settings.search.budget
    config = {"configurable": {"thread_id": run_id}, "recursion_limit": recursion_limit(settings, budget)}
    extra = {} if previous_budget is None else {"previous_budget": previous_budget}
    ctx.tracer.emit(
        "run_resumed" if resumed else "run_started",
        run_id=run_id,
        budget=budget,
        dataset=settings.data.dataset,
        device=settings.train.device,
        llm=settings.llm.provider,
        roles=llm_roles(settings),
        **extra,
    )
    try:
        with _compiled(store, settings) as app:
            final = app.invoke(start, config, context=ctx, durability="sync")
        summary = store.write_summary(final, settings.data.dataset)
        ctx.tracer.emit(
            "run_ended",
            status=summary["status"],
            stop_reason=summary.get("stop_reason"),
            counted=summary["counted"],
            best=summary["best"],
            pareto=summary["pareto"],
        )
        return summary
    except BaseException as exc:
        ctx.tracer.emit("error", message=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    finally:
        ctx.executor.close()
        ctx.tracer.close()


__all__ = ["ResumeError", "RunDirError", "example_toml", "preflight", "resume_run", "start_run"]
