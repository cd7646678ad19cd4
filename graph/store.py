"""The run directory: resolved settings, checkpoints, candidate folders, trace and summary.

Layout::

    DIR/
      run.json             run id, creation time, FairNAD version (marks DIR as a run)
      settings.toml        the resolved settings the run uses (resume reads them)
      checkpoints.sqlite   LangGraph SqliteSaver checkpoints
      knowledge/           the run's idea bank (bank.json: template and ideas) and its Chroma index
      candidates/<id>/     model.py, spec.json, mutation.json, verify.json, metrics.json, train.log;
                           llm/NN-<role>.json: the candidate's LLM exchanges
      lessons/             round-NN.md: the feedback role's lessons after round NN (LLM mode only);
                           llm/NN-<role>.json: the LLM exchanges of rounds (not of one candidate)
      lessons.md           the latest lessons, under a header naming their round
      trace.jsonl          one event per line
      summary.json         candidates, Pareto front, best

Every file is written atomically (temporary file + rename). A lock file keeps a second
process off a directory in use.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from pathlib import Path
from typing import Any

from agents.llm import is_round_key
from fairnad_tools.io import atomic_write_json, atomic_write_text, read_json, read_python_source
from graph.pareto import pareto_front
from graph.state import FINAL_STATUSES, RunState, counted, trained
from knowledge.ideas import IdeaBank
from knowledge.template import TemplateError

SUMMARY_SCHEMA_VERSION = 1
SUMMARY_FIELDS = (
    "id",
    "parent",
    "round",
    "mutation_type",
    "transformation",
    "idea",
    "sub_category",
    "status",
    "reason",
    "params",
    "flops",
    "val_acc",
    "test_acc",
    "seconds",
    "mode",
    "tokens_in",
    "tokens_out",
    "llm_calls",
)
_SUMMARY_DEFAULTS: dict[str, Any] = {"mode": None, "tokens_in": 0, "tokens_out": 0, "llm_calls": 0}


def llm_totals(usage: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``summary.json``'s ``llm`` object from the per-role usage of :meth:`RunStore.llm_usage`.

    ``calls``, ``tokens_in`` and ``tokens_out`` are integers over all roles (``replayed`` of the
    calls were answered from a recording: their counts are the recorded ones, nothing was spent
    again); ``tokens_estimated``
    is true when any count is an estimate (a server that reports no usage); ``cost_usd`` is
    ``"not reported"`` when any call's price is unknown (never 0 for an unknown price), and
    ``roles`` holds the same fields per role.
    """
    roles = {name: dict(values) for name, values in sorted(usage.items())}
    costs = [values.get("cost_usd") for values in roles.values()]
    cost: Any = "not reported" if any(c is None or c == "not reported" for c in costs) else round(sum(costs), 6)
    for values in roles.values():
        if values.get("cost_usd") is None:
            values["cost_usd"] = "not reported"
    return {
        "calls": sum(int(v.get("calls", 0)) for v in roles.values()),
        "replayed": sum(int(v.get("replayed", 0)) for v in roles.values()),
        "tokens_in": sum(int(v.get("tokens_in", 0)) for v in roles.values()),
        "tokens_out": sum(int(v.get("tokens_out", 0)) for v in roles.values()),
        "tokens_estimated": any(bool(v.get("tokens_estimated")) for v in roles.values()),
        "cost_usd": cost if roles else 0.0,
        "roles": roles,
    }


class RunDirError(ValueError):
    """The run directory cannot be used (the message says why and what to do)."""


class RunStore:
    def __init__(self, root: Path) -> None:
        # absolute: workers run in the candidate folder, so relative paths would break there
        self.root = Path(root).expanduser().absolute()
        self._lock_fd: int | None = None
        self._usage_seen: dict[Path, tuple[str | None, str, int, int, bool, Any, bool]] = {}

    # -- paths -------------------------------------------------------------------------
    @property
    def run_file(self) -> Path:
        return self.root / "run.json"

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.toml"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints.sqlite"

    @property
    def trace_file(self) -> Path:
        return self.root / "trace.jsonl"

    @property
    def summary_file(self) -> Path:
        return self.root / "summary.json"

    @property
    def knowledge_dir(self) -> Path:
        return self.root / "knowledge"

    @property
    def bank_file(self) -> Path:
        """The run's idea bank: written once by a new run, read by a resumed one."""
        return self.knowledge_dir / "bank.json"

    @property
    def lessons_dir(self) -> Path:
        """The feedback role's lessons, one file per round, and the LLM exchanges of rounds (``llm/``)."""
        return self.root / "lessons"

    @property
    def lessons_file(self) -> Path:
        """The latest lessons (what the mutation role is shown next)."""
        return self.root / "lessons.md"

    def candidate_dir(self, cid: str) -> Path:
        return self.root / "candidates" / cid

    # -- lifecycle ---------------------------------------------------------------------
    def holds_run(self) -> bool:
        try:
            return self.run_file.is_file()
        except OSError as exc:
            raise RunDirError(
                f"cannot access run directory {self.root} ({exc.strerror}); choose another --run-dir"
            ) from None

    def check_new(self) -> None:
        """Refuse a directory that holds another run, holds other files, or cannot be written.

        Creates nothing (checks before a run starts must leave no folder behind); the folder
        is made when the run takes its lock (:meth:`lock`). Raises :class:`RunDirError`.
        """
        if self.root.exists() and not self.root.is_dir():
            raise RunDirError(f"{self.root} exists and is not a directory; choose another --run-dir")
        if self.holds_run():
            info = self.info()
            raise RunDirError(
                f"{self.root} already holds run {info.get('run_id', '?')}; continue it with "
                f"'fairnad resume {self.root}' or choose another --run-dir"
            )
        existing = self.root
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise RunDirError(f"{existing} is not a directory, so {self.root} cannot be made; choose another --run-dir")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise RunDirError(
                f"cannot write to run directory {self.root} (permission denied in {existing}); choose another --run-dir"
            )
        if existing == self.root and any(p.name not in {".lock"} for p in self.root.iterdir()):
            raise RunDirError(f"{self.root} is not empty and holds no FairNAD run; choose an empty or new --run-dir")

    def create(self, settings_toml: str, version: str) -> str:
        """Make a new run here (after :meth:`check_new`); returns the new run id."""
        self.check_new()
        run_id = f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        atomic_write_text(self.settings_file, settings_toml)
        atomic_write_json(
            self.run_file,
            {"run_id": run_id, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "fairnad": version},
        )
        return run_id

    def info(self) -> dict[str, Any]:
        if not self.holds_run():
            raise RunDirError(
                f"{self.root} holds no FairNAD run (no run.json); start one with 'fairnad run --run-dir {self.root}'"
            )
        try:
            return read_json(self.run_file)
        except ValueError as exc:
            raise RunDirError(str(exc)) from None

    def lock(self) -> None:
        """Take the directory's lock for this process, or explain who holds it."""
        path = self.root / ".lock"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunDirError(
                f"cannot write to run directory {self.root} ({exc.strerror}); choose another --run-dir"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RunDirError(
                f"{self.root} is in use by another FairNAD process (pid {holder}); wait for it to "
                "finish or stop it, then resume"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def lock_holder(self) -> int | None:
        """The pid of the process working on this run now, or ``None`` when none does.

        Probes the lock with a shared, non-blocking ``flock`` released at once, so a run
        whose process was killed (the kernel freed its lock) reads as not held. Returns
        ``-1`` when the lock is held but the holder wrote no pid yet.
        """
        try:
            fd = os.open(self.root / ".lock", os.O_RDONLY)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = os.read(fd, 64).decode(errors="replace").strip()
                return int(text) if text.isdigit() else -1
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    # -- candidate files ---------------------------------------------------------------
    def write_text(self, cid: str, name: str, text: str) -> Path:
        return atomic_write_text(self.candidate_dir(cid) / name, text)

    def write_json(self, cid: str, name: str, data: Any) -> Path:
        return atomic_write_json(self.candidate_dir(cid) / name, data)

    def read_text(self, cid: str, name: str) -> str | None:
        """A candidate file's text, ``None`` when absent; Python files decoded as Python decodes them
        (a byte-order mark, a PEP 263 declaration, CRLF), so a prompt sees what the verifier checked."""
        path = self.candidate_dir(cid) / name
        if not path.is_file():
            return None
        return read_python_source(path) if path.suffix == ".py" else path.read_text(encoding="utf-8")

    def read_json(self, cid: str, name: str) -> Any:
        path = self.candidate_dir(cid) / name
        return read_json(path) if path.is_file() else None

    # -- LLM exchanges -----------------------------------------------------------------
    def exchange_dir(self, cid: str) -> Path:
        """Where the LLM exchanges keyed ``cid`` are kept: ``candidates/<cid>/llm``, or ``lessons/llm``
        for a round's key (``round-NN``, :func:`agents.llm.round_key`)."""
        return self.lessons_dir / "llm" if is_round_key(cid) else self.candidate_dir(cid) / "llm"

    def write_exchange(self, cid: str, role: str, data: dict[str, Any]) -> Path:
        """Keep one LLM exchange as ``candidates/<cid>/llm/NN-<role>.json`` (NN: 01, 02, ... in call order);
        a round's exchange (``cid`` ``round-NN``) as ``lessons/llm/NN-<role>.json``."""
        folder = self.exchange_dir(cid)
        folder.mkdir(parents=True, exist_ok=True)
        number = len(list(folder.glob("[0-9]*-*.json"))) + 1
        return atomic_write_json(folder / f"{number:02d}-{role}.json", data)

    def llm_usage(self) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, Any]]]:
        """LLM usage from the stored exchanges: per candidate (``llm_calls``, ``tokens_in``,
        ``tokens_out``) and per role (those plus ``tokens_estimated`` and ``cost_usd``, ``None``
        when a price is unknown). The exchanges of rounds (``lessons/llm/``) count in the per-role
        usage only. Files already read are remembered, so this stays cheap."""
        root = self.root / "candidates"
        paths = sorted(root.glob("*/llm/[0-9]*-*.json")) if root.is_dir() else []
        paths += sorted((self.lessons_dir / "llm").glob("[0-9]*-*.json"))
        for path in paths:
            if path in self._usage_seen:
                continue
            try:
                data = read_json(path)
            except (OSError, ValueError):
                continue  # a damaged file counts nothing; fairnad trace --llm shows it
            self._usage_seen[path] = (
                path.parent.parent.name if path.parent.parent.parent == root else None,
                str(data.get("role") or path.stem.split("-", 1)[-1]),
                int(data.get("tokens_in") or 0),
                int(data.get("tokens_out") or 0),
                bool(data.get("tokens_estimated")),
                data.get("cost_usd"),
                bool(data.get("replayed")),
            )
        by_candidate: dict[str, dict[str, int]] = {}
        by_role: dict[str, dict[str, Any]] = {}
        for cid, role, tokens_in, tokens_out, estimated, cost, replayed in self._usage_seen.values():
            if cid is not None:
                row = by_candidate.setdefault(cid, {"llm_calls": 0, "tokens_in": 0, "tokens_out": 0})
                row["llm_calls"] += 1
                row["tokens_in"] += tokens_in
                row["tokens_out"] += tokens_out
            totals = by_role.setdefault(
                role,
                {
                    "calls": 0,
                    "replayed": 0,
                    "tokens_in": 0,
                    "tokens_out": 0,
                    "tokens_estimated": False,
                    "cost_usd": 0.0,
                },
            )
            totals["calls"] += 1
            totals["replayed"] += int(replayed)
            totals["tokens_in"] += tokens_in
            totals["tokens_out"] += tokens_out
            totals["tokens_estimated"] = totals["tokens_estimated"] or estimated
            if cost is None or totals["cost_usd"] is None:
                totals["cost_usd"] = None
            else:
                totals["cost_usd"] = round(totals["cost_usd"] + float(cost), 6)
        return by_candidate, by_role

    def exchange_files(self, cid: str) -> list[Path]:
        """The stored LLM exchanges of candidate ``cid``, in call order (empty when it made none)."""
        folder = self.candidate_dir(cid) / "llm"
        files = folder.glob("[0-9]*-*.json") if folder.is_dir() else []
        return sorted(files, key=lambda p: int(p.name.split("-", 1)[0]))

    # -- lessons -----------------------------------------------------------------------
    def write_lessons(self, round: int, text: str) -> Path:
        """Keep the feedback role's lessons after round ``round``: ``lessons/round-NN.md`` (kept per
        round) and ``lessons.md`` (the latest, under a header line naming the round). Returns the
        round's file."""
        body = text.strip() + "\n"
        path = atomic_write_text(self.lessons_dir / f"round-{round:02d}.md", body)
        atomic_write_text(self.lessons_file, f"# Lessons after round {round}\n\n{body}")
        return path

    # -- idea bank ---------------------------------------------------------------------
    def write_bank(self, bank: IdeaBank) -> Path:
        """Keep ``bank`` in the run (atomically), so a resume never reads the idea files again."""
        return atomic_write_json(self.bank_file, bank.to_json())

    def read_bank(self) -> IdeaBank | None:
        """The run's idea bank, or ``None`` for a run made before runs kept their bank.

        Raises :class:`RunDirError` when the file exists but is damaged.
        """
        if not self.bank_file.is_file():
            return None
        try:
            return IdeaBank.from_json(read_json(self.bank_file), str(self.bank_file))
        except (ValueError, TemplateError) as exc:
            raise RunDirError(f"{exc}; the run's idea bank is damaged (restore it from a backup)") from None

    # -- summary -----------------------------------------------------------------------
    def build_summary(self, state: RunState, dataset: str) -> dict[str, Any]:
        records = sorted(state.get("candidates", {}).values(), key=lambda c: c["id"])
        by_candidate, usage_by_role = self.llm_usage()
        final = []
        for c in records:
            if c["status"] in FINAL_STATUSES:
                row = {k: c.get(k, _SUMMARY_DEFAULTS.get(k)) for k in SUMMARY_FIELDS}
                row.update(by_candidate.get(c["id"], {}))
                final.append(row)
        done = trained(state)
        best = max(done, key=lambda c: (c["val_acc"], -c["params"]), default=None)
        summary = {
            "schema_version": SUMMARY_SCHEMA_VERSION,
            "run_id": state.get("run_id"),
            "status": state.get("status", "running"),
            "budget": state.get("budget"),
            "counted": counted(state),
            "dataset": dataset,
            "candidates": final,
            "pareto": pareto_front(done),
            "best": best["id"] if best else None,
            "llm": llm_totals(usage_by_role),
        }
        if summary["status"] == "stopped":
            summary["stop_reason"] = state.get("stop_reason")
        return summary

    def write_summary(self, state: RunState, dataset: str) -> dict[str, Any]:
        summary = self.build_summary(state, dataset)
        atomic_write_json(self.summary_file, summary)
        return summary

    def read_summary(self) -> dict[str, Any]:
        if not self.summary_file.is_file():
            self.info()  # raises a clear error when this is no run at all
            raise RunDirError(f"{self.root} has no summary.json yet; the run has not finished a step")
        return read_json(self.summary_file)
