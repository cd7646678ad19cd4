"""The run directory: resolved settings, checkpoints, candidate folders, trace and summary.

Layout::

    DIR/
      run.json             run id, creation time, FairNAD version (marks DIR as a run)
      settings.toml        the resolved settings the run uses (resume reads them)
      checkpoints.sqlite   LangGraph SqliteSaver checkpoints
      knowledge/           the run's idea bank (bank.json: template and ideas) and its Chroma index
      candidates/<id>/     model.py, spec.json, mutation.json, verify.json, metrics.json, train.log
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
)


class RunDirError(ValueError):
    """The run directory cannot be used (the message says why and what to do)."""


class RunStore:
    def __init__(self, root: Path) -> None:
        # absolute: workers run in the candidate folder, so relative paths would break there
        self.root = Path(root).expanduser().absolute()
        self._lock_fd: int | None = None

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
        final = [{k: c[k] for k in SUMMARY_FIELDS} for c in records if c["status"] in FINAL_STATUSES]
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
