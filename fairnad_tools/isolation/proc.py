"""Child-process helpers: children that die with their parent and leave no secrets behind.

A leaf module: it imports nothing else of :mod:`fairnad_tools.isolation` (the fork server and
:mod:`fairnad_tools.isolation.launch`, which starts the children, import it). Every piece of
candidate code (verification, training) runs in a child set up with these helpers:
its own session (so a timeout kills the whole group), ``PR_SET_PDEATHSIG`` so that it is
killed when FairNAD dies (even by SIGKILL), a scrubbed environment, a wall-clock limit.

**Secrets.** A child's environment is an allow-list (:func:`child_env`); whatever a caller
passes instead is scrubbed again (:func:`scrub_secrets`): no variable named like a secret
(``*KEY*``, ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``, ``*CREDENTIAL*``, ``FAIRNAD_LLM*``) and
no value that holds the value of one of FairNAD's own secret variables reaches a child.
Before the first child starts, FairNAD makes its own process non-dumpable
(:func:`hide_from_same_user`), so its ``/proc/<pid>/environ`` and memory, which hold the
API key, are closed to every other process of the same user (a candidate is one: same
uid), not only to confined workers. The cost: no core dumps of the main process, and a
debugger or profiler of the same user (gdb, py-spy) cannot attach to it. A worker is
confined to its own ``/proc`` folder by :mod:`fairnad_tools.isolation.guard` and Landlock.

A child's output (stdout and stderr together) always goes through a pipe that FairNAD
drains while the child runs, so a candidate that prints megabytes never blocks on a full
pipe; what is kept of it is capped (:class:`CappedOutput`): the first
:data:`OUTPUT_HEAD_BYTES` and the last :data:`OUTPUT_TAIL_BYTES`, with a line in the log
that says how much was dropped in between, so a model that prints in every step cannot
fill the disk with its ``train.log``.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import os
import re
import selectors
import signal
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The folder that holds FairNAD's packages; first on a child's ``PYTHONPATH``."""

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
_PR_SET_DUMPABLE = 4
# Names of variables that hold credentials; such a variable never reaches a child, whatever a caller passes.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|^FAIRNAD_LLM", re.IGNORECASE)
_MIN_SECRET_CHARS = 8  # shorter values are not looked for inside other variables' values
_hidden: bool | None = None  # None: not tried yet

OUTPUT_HEAD_BYTES = 1 << 20
"""Bytes kept from the start of a child's output (1 MiB)."""
OUTPUT_TAIL_BYTES = 1 << 20
"""Bytes kept from the end of a child's output (1 MiB)."""
_EOF_GRACE_S = 10.0  # after the child ended: how long a leftover holder of its pipe may keep it open
_LINE_SLACK = 4096  # a cut moves to a line boundary when one is this close


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n:,} bytes"


class CappedOutput:
    """What is kept of one child's output: its first ``head_bytes`` and its last ``tail_bytes``.

    The head is appended to ``log_path`` (unbuffered, so the log can be followed while the
    child runs) as it arrives; past it, a line in the log says the output is being cut, only
    the last ``tail_bytes`` are held in memory, and :meth:`close` writes them after a line
    that says how many bytes were dropped. With no ``log_path`` nothing is written and only
    the tail is kept (for :meth:`tail_text`). Memory is bounded by ``tail_bytes`` (at least
    64 KiB) plus one read. Cuts move to a line boundary when one lies within 4 KiB.
    """

    def __init__(
        self,
        log_path: str | os.PathLike[str] | None = None,
        *,
        head_bytes: int = OUTPUT_HEAD_BYTES,
        tail_bytes: int = OUTPUT_TAIL_BYTES,
    ) -> None:
        if head_bytes < 0 or tail_bytes < 0:
            raise ValueError(f"head_bytes and tail_bytes must be >= 0 (got {head_bytes}, {tail_bytes})")
        self.head_bytes, self.tail_bytes = head_bytes, tail_bytes
        self.total = 0  # bytes received
        self.head_written = 0  # bytes at the start of the stream written to the log
        self.dropped = 0  # bytes kept neither in the head nor in the tail (set by close)
        self._file = open(log_path, "ab", buffering=0) if log_path is not None else None  # noqa: SIM115
        self._ring: collections.deque[bytes] = collections.deque()  # the last bytes of the stream
        self._ring_size = 0
        self._ring_keep = max(tail_bytes, 1 << 16)
        self._closed = False

    def write(self, data: bytes) -> None:
        """Take the next piece of the child's output."""
        if not data:
            return
        at = self.total
        self.total += len(data)
        self._ring.append(bytes(data))
        self._ring_size += len(data)
        while self._ring_size - len(self._ring[0]) >= self._ring_keep:
            self._ring_size -= len(self._ring.popleft())
        if self._file is None or self.head_written != at or at >= self.head_bytes:
            return  # past the head: only the ring keeps it
        room = self.head_bytes - at
        if len(data) <= room:
            self._file.write(data)
            self.head_written += len(data)
            return
        cut = data.rfind(b"\n", max(0, room - _LINE_SLACK), room) + 1 or room
        self._file.write(data[:cut])
        self.head_written += cut
        self._file.write(
            (b"" if data[:cut].endswith(b"\n") else b"\n")
            + f"[FairNAD: this process's output passed {_size(self.head_bytes)}: the rest is not kept, except "
            f"its last {_size(self.tail_bytes)}, written below when the process ends]\n".encode()
        )

    def tail_text(self, chars: int) -> str:
        """The last ``chars`` characters of the whole output (decoded as UTF-8, bad bytes replaced)."""
        if chars <= 0:
            return ""
        return b"".join(self._ring)[-chars * 4 :].decode("utf-8", "replace")[-chars:]

    def close(self) -> None:
        """Write the tail, after a line saying how much was dropped, and close the log. Idempotent."""
        if self._closed:
            return
        self._closed = True
        after_head = self.total - self.head_written
        if self._file is None:
            self.dropped = max(0, after_head - min(self.tail_bytes, self._ring_size))
            return
        try:
            if after_head > 0:
                take = min(after_head, self.tail_bytes, self._ring_size)
                ring = b"".join(self._ring)
                tail = ring[len(ring) - take :]
                if take < after_head:  # something is dropped: start the tail on a line boundary
                    newline = tail.find(b"\n", 0, _LINE_SLACK)
                    if 0 <= newline < len(tail) - 1:
                        tail = tail[newline + 1 :]
                self.dropped = after_head - len(tail)
                self._file.write(
                    f"[FairNAD: {self.dropped:,} bytes of output dropped here; the process wrote {self.total:,} "
                    f"bytes, of which the first {self.head_written:,} and the last {len(tail):,} are kept]\n".encode()
                    if self.dropped
                    else b"[FairNAD: nothing was dropped; the rest of the output follows]\n"
                )
                self._file.write(tail)
                log.warning(
                    "a child's output (%s) was cut to its first %s and last %s",
                    _size(self.total),
                    _size(self.head_written),
                    _size(len(tail)),
                )
        finally:
            self._file.close()


class Relay:
    """A thread that drains a pipe's read end (``read_fd``) into a :class:`CappedOutput` until end of file.

    The thread starts at once; :meth:`finish` waits for it. The caller owns ``read_fd`` and
    closes it after :meth:`finish`.
    """

    def __init__(self, read_fd: int, sink: CappedOutput) -> None:
        self.read_fd, self.sink = read_fd, sink
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="fairnad-child-output", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.read_fd, selectors.EVENT_READ)
            while not self._stop.is_set():
                if not selector.select(timeout=0.2):
                    continue
                try:
                    chunk = os.read(self.read_fd, 1 << 16)
                except OSError:
                    return
                if not chunk:
                    return
                self.sink.write(chunk)

    def finish(self, grace_s: float = _EOF_GRACE_S) -> None:
        """Wait for end of file (every writer gone); past ``grace_s`` stop reading anyway."""
        self._thread.join(grace_s)
        if self._thread.is_alive():
            log.warning("a child's output pipe stayed open %.0f s after it ended; its output is cut there", grace_s)
            self._stop.set()
            self._thread.join()


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a child: allow-listed variables, FairNAD's root first on PYTHONPATH.

    ``extra`` is added, then the whole is passed through :func:`scrub_secrets`.
    """
    env = {key: os.environ[key] for key in _ENV_ALLOWLIST if key in os.environ}
    paths = [str(PROJECT_ROOT)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return scrub_secrets(env)


def scrub_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without credentials: variables named like a secret, and values holding this process's secrets.

    A secret of this process is the value (8 characters or more) of one of its own variables
    named like a secret (``FAIRNAD_LLM__API_KEY``, ``OPENAI_API_KEY``, ...). What is dropped is
    logged by name, never by value.
    """
    secrets = [v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= _MIN_SECRET_CHARS]
    kept, dropped = {}, []
    for key, value in env.items():
        if _SECRET_NAME.search(key) or any(secret in value for secret in secrets):
            dropped.append(key)
        else:
            kept[key] = value
    if dropped:
        log.warning("not passed to a child process (they hold or look like credentials): %s", ", ".join(dropped))
    return kept


def hide_from_same_user() -> bool:
    """Make this process non-dumpable (Linux), once: other processes of the same user cannot read its memory.

    ``/proc/<pid>/environ``, ``mem``, ``maps`` and ``fd`` of a non-dumpable process are open
    only to itself and to root, and no process of the same user can ptrace it; the process
    itself reads them as before, and the children it starts (a new program each) are
    dumpable again. Called before the first child that may run candidate code starts.
    Returns whether the process is now hidden.
    """
    global _hidden
    if _hidden is not None:
        return _hidden
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        _hidden = libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        _hidden = False
    if not _hidden:
        log.warning("could not make this process non-dumpable; same-user processes can read its environment")
    return _hidden


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel for SIGKILL when ``parent_pid`` dies; runs in the child (between fork and exec).

    Exits the child at once (status 1) when the parent is already gone. Off Linux it does
    nothing and the session kill on timeout is the only fallback.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: fall back to the session kill on timeout
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


@dataclass(frozen=True)
class ChildResult:
    """What happened to a child process: exit status (negative: killed by that signal), whether
    it ran past its limit, wall seconds, and the last characters of its output."""

    returncode: int
    timed_out: bool
    seconds: float
    output_tail: str

    @property
    def killed_by_signal(self) -> int | None:
        """The signal number that killed the child, or ``None`` when it exited."""
        return -self.returncode if self.returncode < 0 else None


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``proc``'s whole process group (it was started in its own session); else ``proc`` alone."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
