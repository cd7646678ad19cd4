"""A fork server: one process with torch already imported forks a fresh child per job.

Starting Python and importing torch costs seconds; verifying or training a candidate
should not. The server is started once per FairNAD process (lazily), imports the
worker modules, and for each request forks a child that runs ``module.main(argv)`` in
its own session and working directory, with a scrubbed environment and its output in a
log file. Children are as isolated as freshly started ones: separate processes, their
own limits (set by the workers), killed with the server, which is killed with FairNAD.

The server never runs a torch operation itself, so no thread pool or CUDA context exists
at fork time. The protocol is one JSON line per request on a Unix socket, sent with one
file descriptor (``SCM_RIGHTS``): the write end of a pipe that becomes the child's stdout
and stderr, which the client drains and caps (:class:`fairnad_tools.isolation.proc.CappedOutput`).
The server answers ``{"pid"}`` at once and ``{"returncode"}`` when the child ends.
"""

from __future__ import annotations

import importlib
import json
import os
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from fairnad_tools.isolation.proc import child_env, die_with_parent, hide_from_same_user

PRELOAD = ("torch", "torch.utils.flop_counter", "numpy", "sklearn.datasets", "sklearn.model_selection")
WORKERS = ("fairnad_tools.verify.worker", "fairnad_tools.train.worker")
"""Worker modules the server imports up front; :func:`~fairnad_tools.isolation.launch.run_python_module` forks these."""


# -- server side ----------------------------------------------------------------------------
def _child(request: dict[str, Any], output_fd: int) -> None:
    """In the forked child: become a clean worker process and run the module's main()."""
    try:
        os.setsid()
        die_with_parent(int(request["server_pid"]))
        os.chdir(request["cwd"])
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        os.close(output_fd)
        os.environ.clear()
        os.environ.update(request["env"])
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        sys.argv = [request["module"], *request["argv"]]
        module = importlib.import_module(request["module"])
        code = module.main(list(request["argv"]))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(code or 0))
    except SystemExit as exc:
        os._exit(exc.code if isinstance(exc.code, int) else 1)
    except BaseException:  # noqa: BLE001 - report, then die
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        os._exit(70)


def serve(socket_path: str) -> None:
    """Server loop: accept requests, fork children, report their exit status."""
    from fairnad_tools.isolation.guard import IMPORT_BEFORE_GUARD

    for name in PRELOAD + WORKERS + IMPORT_BEFORE_GUARD:  # imported once here, not in every forked worker
        importlib.import_module(name)
    from fairnad_tools.measure import warm_up

    warm_up()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(16)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    waiting: dict[int, socket.socket] = {}
    print("ready", flush=True)
    # From here on the server writes to a log file: nobody reads the handshake pipe again.
    log = os.open(str(Path(socket_path).with_name("server.log")), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    while True:
        for _key, _events in selector.select(timeout=0.05):
            conn, _ = listener.accept()
            fds: list[int] = []
            try:
                conn.settimeout(5)
                line, fds = _read_request(conn)
                if len(fds) != 1:
                    raise ValueError(f"a request carries one output descriptor, got {len(fds)}")
                request = json.loads(line)
                request["server_pid"] = os.getpid()
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    conn.close()
                    _child(request, fds[0])
                conn.sendall((json.dumps({"pid": pid}) + "\n").encode())
                waiting[pid] = conn
            except (OSError, ValueError) as exc:
                try:
                    conn.sendall((json.dumps({"error": str(exc)}) + "\n").encode())
                except OSError:
                    pass
                conn.close()
            finally:
                for fd in fds:  # the child holds its own copy; the client's end sees EOF when the child ends
                    os.close(fd)
        while waiting:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = waiting.pop(pid, None)
            if conn is not None:
                code = os.waitstatus_to_exitcode(status)
                try:
                    conn.sendall((json.dumps({"returncode": code}) + "\n").encode())
                except OSError:
                    pass
                conn.close()


def _read_request(conn: socket.socket) -> tuple[str, list[int]]:
    """One request line and the descriptors sent with it (they arrive with its first bytes)."""
    data, fds = b"", []
    while not data.endswith(b"\n"):
        chunk, received, _flags, _addr = socket.recv_fds(conn, 65536, 4)
        fds.extend(received)
        if not chunk:
            for fd in fds:
                os.close(fd)
            raise ConnectionError("fork server connection closed")
        data += chunk
    return data.decode(), fds


def _read_line(conn: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("fork server connection closed")
        data += chunk
    return data.decode()


# -- client side ----------------------------------------------------------------------------
class ForkServerError(RuntimeError):
    pass


class ForkServer:
    """Client handle; :func:`get_server` keeps one per FairNAD process."""

    def __init__(self) -> None:
        import subprocess

        hide_from_same_user()
        self.dir = tempfile.mkdtemp(prefix="fairnad-fork-")
        self.socket_path = str(Path(self.dir) / "server.sock")
        parent = os.getpid()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fairnad_tools.isolation.forkserver", self.socket_path],
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: die_with_parent(parent),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if line != "ready":
            rest = self.proc.stdout.read().decode(errors="replace")[-2000:] if self.proc.poll() is not None else ""
            raise ForkServerError(f"the fork server did not start: {line} {rest}".strip())
        self.proc.stdout.close()
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(
        self,
        module: str,
        argv: list[str],
        *,
        cwd: str,
        output_fd: int,
        env: dict[str, str],
        timeout: float,
    ) -> tuple[int, bool]:
        """Run ``module.main(argv)`` in a forked child; returns (returncode, timed_out).

        ``output_fd`` (the write end of a pipe the caller drains) becomes the child's stdout
        and stderr; the caller keeps its own copy and closes it when this returns.
        """
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(self.socket_path)
        try:
            request = {"module": module, "argv": argv, "cwd": cwd, "env": env}
            payload = (json.dumps(request) + "\n").encode()
            sent = socket.send_fds(conn, [payload], [output_fd])
            if sent < len(payload):
                conn.sendall(payload[sent:])
            conn.settimeout(30)
            first = json.loads(_read_line(conn))
            if "pid" not in first:
                raise ForkServerError(first.get("error", "fork server refused the request"))
            pid = first["pid"]
            deadline = time.monotonic() + timeout
            timed_out = False
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 and not timed_out:
                    timed_out = True
                    _killpg(pid)
                    remaining = 30
                conn.settimeout(max(0.05, remaining))
                try:
                    done = json.loads(_read_line(conn))
                    return int(done["returncode"]), timed_out
                except TimeoutError:
                    continue
                except BaseException:
                    _killpg(pid)
                    raise
        finally:
            conn.close()

    def close(self) -> None:
        if self.alive():
            _killpg(self.proc.pid)
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


_server: ForkServer | None = None
_server_lock = threading.Lock()
_enabled = os.environ.get("FAIRNAD_FORKSERVER", "1") != "0"


def set_enabled(enabled: bool) -> None:
    """Turn the fork server off for one-shot use (a single verification starts faster without it)."""
    global _enabled
    _enabled = enabled


def get_server() -> ForkServer | None:
    """The process's fork server, started on first use; ``None`` if disabled or it cannot start."""
    global _server
    if not _enabled:
        return None
    with _server_lock:
        if _server is not None and _server.alive():
            return _server
        try:
            _server = ForkServer()
        except (ForkServerError, OSError):
            _server = None
            return None
        import atexit

        atexit.register(_server.close)
        return _server


if __name__ == "__main__":
    serve(sys.argv[1])
