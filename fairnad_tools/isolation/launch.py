"""Run a worker module in a child process: forked from the fork server, or a fresh interpreter.

:func:`run_python_module` is the one entry point the tools use (the verifier, training). It
takes the child-process helpers of :mod:`fairnad_tools.isolation.proc` (scrubbed
environment, death with the parent, capped output) and the fork server of
:mod:`fairnad_tools.isolation.forkserver`, so neither of those imports the other.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from fairnad_tools.isolation.forkserver import WORKERS, ForkServer, get_server
from fairnad_tools.isolation.proc import (
    OUTPUT_HEAD_BYTES,
    OUTPUT_TAIL_BYTES,
    CappedOutput,
    ChildResult,
    Relay,
    child_env,
    die_with_parent,
    hide_from_same_user,
    kill_group,
    scrub_secrets,
)

__all__ = ["ChildResult", "run_python_module"]


def run_python_module(
    module: str,
    args: Sequence[str],
    *,
    timeout: float,
    cwd: str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    tail_chars: int = 4000,
    head_bytes: int = OUTPUT_HEAD_BYTES,
    tail_bytes: int = OUTPUT_TAIL_BYTES,
) -> ChildResult:
    """Run ``python -m module args`` in a child; kill its process group after ``timeout`` s.

    Output (stdout and stderr together) is drained while the child runs and capped
    (:class:`CappedOutput`): its first ``head_bytes`` and last ``tail_bytes`` are appended to
    ``log_path`` when given; the last ``tail_chars`` characters come back in the result
    either way. Workers of :data:`fairnad_tools.isolation.forkserver.WORKERS` run in a child forked
    by the fork server when it is enabled, others in a fresh interpreter.
    """
    hide_from_same_user()
    env = scrub_secrets(env) if env is not None else None
    sink = CappedOutput(log_path, head_bytes=head_bytes, tail_bytes=tail_bytes)
    try:
        server = get_server() if module in WORKERS else None
        if server is not None:
            returncode, timed_out, seconds = _run_forked(server, module, list(args), timeout, cwd, env, sink)
        else:
            returncode, timed_out, seconds = _run_fresh(module, list(args), timeout, cwd, env, sink)
    finally:
        sink.close()
    return ChildResult(returncode, timed_out, seconds, sink.tail_text(tail_chars))


def _run_fresh(
    module: str,
    args: list[str],
    timeout: float,
    cwd: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None,
    sink: CappedOutput,
) -> tuple[int, bool, float]:
    parent = os.getpid()
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=dict(env) if env is not None else child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: die_with_parent(parent),
    )
    assert proc.stdout is not None
    relay = Relay(proc.stdout.fileno(), sink)
    timed_out = False
    try:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(proc)
            proc.wait()
        except BaseException:  # KeyboardInterrupt or an error here: never leave the child behind
            kill_group(proc)
            proc.wait()
            raise
    finally:
        relay.finish()
        proc.stdout.close()
    return proc.returncode, timed_out, time.monotonic() - start


def _run_forked(
    server: ForkServer,
    module: str,
    args: list[str],
    timeout: float,
    cwd: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None,
    sink: CappedOutput,
) -> tuple[int, bool, float]:
    import tempfile

    start = time.monotonic()
    read_fd, write_fd = os.pipe()  # the child's stdout and stderr; the server hands it the write end
    relay = Relay(read_fd, sink)
    try:
        with tempfile.TemporaryDirectory(prefix="fairnad-child-") as scratch:
            returncode, timed_out = server.run(
                module,
                args,
                cwd=str(Path(cwd or scratch).resolve()),
                output_fd=write_fd,
                env=dict(env) if env is not None else child_env(),
                timeout=timeout,
            )
    finally:
        os.close(write_fd)  # with the child gone, the relay sees end of file
        relay.finish()
        os.close(read_fd)
    return returncode, timed_out, time.monotonic() - start
