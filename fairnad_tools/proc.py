"""Child processes that die with their parent and leave no secrets behind.

Every piece of candidate code (verification, training) runs in a child started here:
its own session (so a timeout kills the whole group), ``PR_SET_PDEATHSIG`` so that it is
killed when FairNAD dies (even by SIGKILL), a scrubbed environment, a wall-clock limit.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Variables a child may inherit; everything else (API keys, tokens, cloud credentials) is dropped.
_ENV_ALLOWLIST = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "VIRTUAL_ENV",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_HOME",
    "LD_LIBRARY_PATH",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)

_PR_SET_PDEATHSIG = 1


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a child: allow-listed variables, FairNAD's root first on PYTHONPATH."""
    env = {key: os.environ[key] for key in _ENV_ALLOWLIST if key in os.environ}
    paths = [str(PROJECT_ROOT)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


def _die_with_parent(parent_pid: int) -> None:
    """Runs in the child between fork and exec: ask the kernel for SIGKILL when the parent dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: fall back to the session kill on timeout
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


@dataclass(frozen=True)
class ChildResult:
    """What happened to a child process."""

    returncode: int
    timed_out: bool
    seconds: float
    output_tail: str

    @property
    def killed_by_signal(self) -> int | None:
        return -self.returncode if self.returncode < 0 else None


def run_python_module(
    module: str,
    args: Sequence[str],
    *,
    timeout: float,
    cwd: str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    tail_chars: int = 4000,
) -> ChildResult:
    """Run ``python -m module args`` in a child; kill its process group after ``timeout`` s.

    Output (stdout and stderr together) goes to ``log_path`` when given, else is captured;
    the last ``tail_chars`` characters come back in the result either way.
    """
    from fairnad_tools.forkserver import WORKERS, get_server

    server = get_server() if module in WORKERS else None
    if server is not None:
        return _run_forked(server, module, list(args), timeout, cwd, log_path, env, tail_chars)
    argv = [sys.executable, "-m", module, *args]
    parent = os.getpid()
    start = time.monotonic()
    log_handle = open(log_path, "ab") if log_path else None  # noqa: SIM115 - closed below
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env) if env is not None else child_env(),
            stdin=subprocess.DEVNULL,
            stdout=log_handle if log_handle else subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: _die_with_parent(parent),
        )
        timed_out = False
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            out, _ = proc.communicate()
        except BaseException:  # KeyboardInterrupt or an error here: never leave the child behind
            _kill_group(proc)
            proc.wait()
            raise
    finally:
        if log_handle:
            log_handle.close()
    tail = _read_tail(Path(log_path), tail_chars) if log_path else (out or b"").decode("utf-8", "replace")[-tail_chars:]
    return ChildResult(proc.returncode, timed_out, time.monotonic() - start, tail)


def _run_forked(
    server: object,
    module: str,
    args: list[str],
    timeout: float,
    cwd: str | os.PathLike[str] | None,
    log_path: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None,
    tail_chars: int,
) -> ChildResult:
    import tempfile

    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fairnad-child-") as scratch:
        log = Path(log_path) if log_path else Path(scratch) / "output.log"
        returncode, timed_out = server.run(  # type: ignore[attr-defined]
            module, args, cwd=str(Path(cwd or scratch).resolve()), log_path=str(log.resolve()),
            env=dict(env) if env is not None else child_env(), timeout=timeout,
        )  # fmt: skip
        tail = _read_tail(log, tail_chars)
    return ChildResult(returncode, timed_out, time.monotonic() - start, tail)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _read_tail(path: Path, chars: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - chars * 4))
            return handle.read().decode("utf-8", "replace")[-chars:]
    except FileNotFoundError:
        return ""
