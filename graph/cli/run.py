"""``fairnad run`` and ``fairnad resume``: start a search, continue or extend one, under a progress bar."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer

from fairnad_tools.data import dataset_info
from fairnad_tools.settings import DataSettings
from graph.cli.common import ConfigOpt, DeviceOpt, QuietOpt, UsageError, _fail, err
from graph.cli.status import _print_summary
from graph.settings import load_settings
from graph.store import RunStore

if TYPE_CHECKING:
    from graph.runner import ResumePlan

DATASETS = get_args(DataSettings.model_fields["dataset"].annotation)


def _default_run_dir() -> Path:
    return Path("runs") / time.strftime("run-%Y%m%d-%H%M%S")


# flag name -> (settings section, key, the option as typed)
FLAGS = {
    "budget": ("search", "budget", "--budget"),
    "seed": ("search", "seed", "--seed"),
    "dataset": ("data", "dataset", "--dataset"),
    "data_dir": ("data", "data_dir", "--data-dir"),
    "epochs": ("train", "epochs", "--epochs"),
    "device": ("train", "device", "--device"),
    "seed_model": ("search", "seed_model", "--seed-model"),
    "mutation_mode": ("mutation", "mode", "--mutation-mode"),
    "llm_base_url": ("llm", "base_url", "--llm-base-url"),
    "replay_metrics": ("llm", "replay_metrics", "--replay-metrics"),
}
LLM_FLAG = {("llm", "provider"): "--llm", ("llm", "model"): "--llm", ("llm", "replay_dir"): "--llm"}


def llm_overrides(value: str | None) -> dict[str, Any]:
    """``--llm`` as settings: ``none``; ``replay:RUN_DIR``; otherwise a model name at an OpenAI-compatible
    endpoint (``--llm-base-url``, or OpenAI itself)."""
    if value is None:
        return {}
    if value.strip().lower() == "none":
        return {"provider": "none"}
    if value.startswith("replay:"):
        source = value.removeprefix("replay:").strip()
        if not source:
            raise UsageError("--llm replay:RUN_DIR needs the recorded run's folder after 'replay:'")
        return {"provider": "replay", "replay_dir": str(Path(source).expanduser().absolute())}
    if not value.strip():
        raise UsageError("--llm needs a model name (e.g. --llm gpt-4o-mini), 'none' or 'replay:RUN_DIR'")
    return {"provider": "openai", "model": value.strip()}


def _overrides(**flags: Any) -> dict[str, Any]:
    result: dict[str, dict[str, Any]] = {}
    for key, value in flags.items():
        if value is not None:
            section, name, _ = FLAGS[key]
            result.setdefault(section, {})[name] = value
    return result


FLAG_NAMES = {(section, key): option for section, key, option in FLAGS.values()} | LLM_FLAG


class _Progress:
    """A rich progress bar fed by the graph: candidates done of the budget, best accuracy."""

    def __init__(self, budget: int | None, quiet: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.quiet = quiet
        self.started = False
        self.best: float | None = None
        self.progress = Progress(
            TextColumn("[bold]candidates"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[best]}"),
            TimeElapsedColumn(),
            console=err,
            disable=quiet,
            transient=False,
        )
        self.task = self.progress.add_task("run", total=budget, best="best val -")

    def __call__(self, event: dict[str, Any]) -> None:
        if not self.started:  # shown from the first event on: a refused resume shows no bar
            self.progress.start()
            self.started = True
        if event.get("best") is not None:
            self.best = event["best"]
        best = f"best val {self.best:.2%}" if self.best is not None else "best val -"
        update: dict[str, Any] = {"completed": event.get("counted", 0), "best": best}
        if event.get("budget") is not None:  # an extended run shows its new budget
            update["total"] = event["budget"]
        self.progress.update(self.task, **update)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.progress.stop()


class _LLMNotes(logging.StreamHandler):
    """The LLM client's INFO notes (a wait for a busy server, with its reason) as ``llm: ...`` lines."""


def _show_llm_waits(quiet: bool) -> None:
    """Show the LLM client's notes on stderr, unless quiet."""
    logger = logging.getLogger("agents.llm")
    if quiet or any(isinstance(h, _LLMNotes) for h in logger.handlers):
        return
    handler = _LLMNotes(sys.stderr)
    handler.setFormatter(logging.Formatter("llm: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _drive(fn: Any, store: RunStore, budget: int | None, quiet: bool) -> dict[str, Any]:
    """Run ``fn(store, progress)`` under a progress bar (shown from the first event), print the summary."""
    _show_llm_waits(quiet)
    try:
        with _Progress(budget, quiet) as progress:
            summary = fn(store, progress)
    except KeyboardInterrupt:
        _fail(f"interrupted; finished candidates are kept. Continue with: fairnad resume {store.root}", 130)
    _print_summary(summary, store.root)
    if summary["status"] == "stopped":
        reason = str(summary.get("stop_reason"))
        if "fairnad resume RUN_DIR" in reason:  # the reason names its own way on
            _fail(f"the run stopped: {reason.replace('RUN_DIR', str(store.root))}", 1)
        if reason.startswith("replay ended"):  # a replay cannot be resumed past its recording
            _fail(f"the run stopped: {reason}", 1)
        _fail(
            f"the run stopped: {reason}. To try again: fairnad resume {store.root} "
            f"--budget N (N > {summary['counted']})",
            1,
        )
    return summary


def run(
    run_dir: Annotated[
        Path | None, typer.Option("--run-dir", "-o", help="run directory (default: runs/run-<time>)")
    ] = None,
    budget: Annotated[int | None, typer.Option(help="candidates that reach training")] = None,
    dataset: Annotated[str | None, typer.Option(help=f"{', '.join(DATASETS)} (digits is bundled)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="folder with the CIFAR files")] = None,
    epochs: Annotated[int | None, typer.Option(help="training epochs per candidate")] = None,
    device: DeviceOpt = None,
    seed: Annotated[int | None, typer.Option(help="search seed")] = None,
    llm: Annotated[
        str | None,
        typer.Option(
            "--llm",
            metavar="MODEL|none|replay:RUN_DIR",
            help="the LLM behind the roles: a model at --llm-base-url (or OpenAI), 'none' (built-in), or "
            "'replay:RUN_DIR' (answers recorded in that run)",
        ),
    ] = None,
    llm_base_url: Annotated[
        str | None,
        typer.Option("--llm-base-url", help="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1"),
    ] = None,
    replay_metrics: Annotated[
        bool | None,
        typer.Option("--replay-metrics", help="with --llm replay:RUN_DIR, reuse that run's training results too"),
    ] = None,
    seed_model: Annotated[
        str | None,
        typer.Option(
            "--seed-model", help="the first candidate: a built-in seed name, a spec.json or your own model.py"
        ),
    ] = None,
    mutation_mode: Annotated[
        str | None, typer.Option("--mutation-mode", help="auto, code, diff or spec (how the LLM mutates)")
    ] = None,
    config: ConfigOpt = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="continue the run in --run-dir (as 'fairnad resume'; --budget extends it)")
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Run a search (by default: the bundled digits data, built-in agents, the CPU).

    Everything that can be checked before the run starts (settings, roles, knowledge files,
    the device, the dataset's files and content, the LLM with one short call) is checked
    before the run folder exists. ``--llm replay:RUN_DIR`` starts from that run's saved
    settings (unless --config is given) and answers every LLM call from its recording.
    """
    from graph.runner import check_start, start_run

    if resume:
        if run_dir is None:
            raise UsageError("--resume needs --run-dir DIR, the run to continue (or use 'fairnad resume DIR')")
        given = {
            "--dataset": dataset,
            "--data-dir": data_dir,
            "--epochs": epochs,
            "--seed": seed,
            "--config": config,
            "--llm": llm,
            "--llm-base-url": llm_base_url,
            "--replay-metrics": replay_metrics,
            "--seed-model": seed_model,
            "--mutation-mode": mutation_mode,
        }
        cannot = [flag for flag, value in given.items() if value is not None]
        if cannot:
            raise UsageError(
                f"{', '.join(cannot)} cannot act on a resumed run: it keeps the settings it was started with "
                f"({Path(run_dir) / 'settings.toml'}); drop {'them' if len(cannot) > 1 else 'it'}, or start a "
                "new run in another --run-dir (only --budget and --device apply when resuming)"
            )
        if not RunStore(run_dir).holds_run():
            raise UsageError(f"--resume: {RunStore(run_dir).root} holds no run to resume; drop --resume to start one")
        resume_cmd(run_dir, budget=budget, device=device, quiet=quiet)
        return
    store = RunStore(run_dir or _default_run_dir())
    overrides = _overrides(
        budget=budget,
        seed=seed,
        dataset=dataset,
        data_dir=data_dir,
        epochs=epochs,
        device=device,
        seed_model=seed_model,
        mutation_mode=mutation_mode,
        llm_base_url=llm_base_url,
        replay_metrics=replay_metrics,
    )
    chosen = llm_overrides(llm)
    if chosen:
        overrides.setdefault("llm", {}).update(chosen)
    if chosen.get("provider") == "replay" and config is None:
        # a replay starts from the recorded run's own settings, so the same decisions follow
        config = _recorded_settings(Path(chosen["replay_dir"]))
    settings = load_settings(config, overrides, flags=FLAG_NAMES)
    _check_llm_flags(settings, llm, llm_base_url, replay_metrics, mutation_mode)
    if settings.llm.provider == "replay" and settings.llm.replay_dir is not None:
        settings = _replay_settings(
            settings, Path(settings.llm.replay_dir), seed_given=seed_model is not None, budget_given=budget is not None
        )
    if not dataset_info(settings.data.dataset).needs_data_dir and settings.data.data_dir is not None:
        if data_dir is not None:  # a flag that cannot act is an error, never ignored
            raise UsageError(
                f"--data-dir cannot act: the dataset is {settings.data.dataset}, which is bundled and reads no "
                "folder; drop --data-dir, or choose the dataset it holds (--dataset cifar10 or cifar100)"
            )
        err.print(
            f"note: data.data_dir ({settings.data.data_dir}) is not used: {settings.data.dataset} is bundled",
            highlight=False,
            soft_wrap=True,
        )
    check_start(settings, store)
    err.print(
        f"FairNAD run in [bold]{store.root}[/]: {settings.data.dataset}, budget {settings.search.budget}, "
        f"device {settings.train.device}, seed model {settings.search.seed_model}",
        highlight=False,
        soft_wrap=True,
    )
    _print_roles(settings)

    def start(s: RunStore, progress: _Progress) -> dict[str, Any]:
        progress({"counted": 0, "budget": settings.search.budget})
        return start_run(settings, s, progress, checked=True)

    _drive(start, store, settings.search.budget, quiet)


def _recorded_settings(source: Path) -> Path:
    if not source.exists():
        raise UsageError(f"--llm replay:{source}: that folder does not exist")
    saved = source / "settings.toml"
    if not saved.is_file():
        raise UsageError(f"--llm replay:{source}: that folder holds no FairNAD run (no settings.toml) to replay")
    return saved


def _replay_settings(settings: Any, source: Path, *, seed_given: bool, budget_given: bool) -> Any:
    """A replay takes its seed file from the recording and reproduces at most what was recorded
    (without --budget it keeps the recorded budget, so a run that stopped is replayed stopping)."""
    from graph.seeds import seed_kind

    summary_file = source / "summary.json"
    counted = json.loads(summary_file.read_text(encoding="utf-8")).get("counted", 0) if summary_file.is_file() else 0
    if budget_given and settings.search.budget > counted:
        raise UsageError(
            f"--llm replay:{source} reproduces at most the recorded run, which counted {counted} candidate(s); "
            f"the budget is {settings.search.budget}: give --budget {counted} or less"
        )
    kind = seed_kind(settings.search.seed_model)
    if kind == "builtin" or seed_given:
        return settings
    recorded = source / "candidates" / "0000" / ("model.py" if kind == "code" else "spec.json")
    if not recorded.is_file():
        raise UsageError(f"--llm replay:{source}: the recorded seed {recorded} is missing")
    search = settings.search.model_copy(update={"seed_model": str(recorded)})  # the seed as it was run
    return settings.model_copy(update={"search": search})


def _check_llm_flags(
    settings: Any, llm: str | None, base_url: str | None, replay_metrics: bool | None, mode: str | None
) -> None:
    """LLM flags that cannot act are errors, never ignored."""
    from graph.seeds import seed_kind

    provider = settings.llm.provider
    if mode is not None and provider == "none":
        raise UsageError(
            f"--mutation-mode {mode} cannot act: it says how an LLM mutates, and no LLM is configured "
            "(the built-in policy edits specs); add --llm MODEL --llm-base-url URL, or drop --mutation-mode"
        )
    if mode == "spec" and seed_kind(settings.search.seed_model) == "code":
        raise UsageError(
            "--mutation-mode spec cannot act on a model.py seed: spec mode edits candidates that have a "
            "spec.json, and your model has none; use --mutation-mode auto, code or diff"
        )
    if base_url is not None and provider != "openai":
        raise UsageError(
            f"--llm-base-url cannot act: the LLM is {'replay' if provider == 'replay' else 'none'}; give the "
            "model too: --llm MODEL --llm-base-url URL"
        )
    if replay_metrics and provider != "replay":
        raise UsageError("--replay-metrics reuses a recorded run's training results: use it with --llm replay:RUN_DIR")


def _print_roles(settings: Any) -> None:
    from graph.context import describe_roles

    mode = f" (mutation.mode = {settings.mutation.mode})" if settings.llm.provider != "none" else ""
    err.print(f"roles{mode}:", highlight=False)
    for line in describe_roles(settings):
        err.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)


def resume_cmd(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="the run directory")],
    budget: Annotated[
        int | None,
        typer.Option(help="the run's new budget: at least what it has counted; more extends it, finished or not"),
    ] = None,
    device: DeviceOpt = None,
    max_llm_calls: Annotated[
        int | None, typer.Option("--max-llm-calls", help="raise the run's LLM call budget (llm.max_llm_calls)")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", help="raise the run's LLM token budget (llm.max_tokens)")
    ] = None,
    max_cost_usd: Annotated[
        float | None, typer.Option("--max-cost-usd", help="raise the run's LLM cost budget (llm.max_cost_usd)")
    ] = None,
    llm_base_url: Annotated[
        str | None,
        typer.Option("--llm-base-url", help="the LLM endpoint from now on (the server moved; same model)"),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Continue a run from its last checkpoint (finished candidates are kept), or extend it with --budget.

    Without --budget the run keeps its saved budget (an earlier extension included). A
    finished run continues from its current Pareto front, statistics and candidate ids.
    """
    from graph.runner import ResumeError, resume_run

    store = RunStore(run_dir)
    store.info()
    plans: list[ResumePlan] = []

    def announce(plan: ResumePlan) -> None:
        plans.append(plan)
        change = f", budget {plan.previous_budget} -> {plan.budget}" if plan.budget != plan.previous_budget else ""
        what = "resuming" if plan.continues else "nothing to resume in"
        # a run that is resumed was not running: no process held it (the resume took its lock)
        status = "interrupted" if plan.status == "running" else plan.status
        err.print(
            f"FairNAD: {what} {store.root} ({status}, {plan.counted} of {plan.budget} counted{change}, "
            f"device {plan.settings.train.device})",
            highlight=False,
            soft_wrap=True,
        )

    try:
        summary = _drive(
            lambda s, p: resume_run(
                s,
                p,
                budget=budget,
                device=device,
                on_plan=announce,
                llm_overrides={
                    "max_llm_calls": max_llm_calls,
                    "max_tokens": max_tokens,
                    "max_cost_usd": max_cost_usd,
                    "base_url": llm_base_url,
                },
            ),
            store,
            None,
            quiet,
        )
    except ResumeError as exc:
        raise UsageError(str(exc)) from None
    if plans and not plans[0].continues and summary["status"] in ("finished", "stopped"):
        err.print(
            f"the run is {summary['status']} with {summary['counted']} of {summary['budget']} counted; "
            f"to train more: fairnad resume {store.root} --budget N (N > {summary['counted']})",
            highlight=False,
            soft_wrap=True,
        )
