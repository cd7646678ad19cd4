"""Run-time guard for candidate code, installed in the worker just before the candidate loads.

The static check rejects what it can see; this is the second line for what it cannot (a
path assembled at run time, an API nobody listed). A PEP 578 audit hook, which cannot be
removed once added, refuses in the worker process: process creation, signals to other
processes, network sockets, loading native libraries, deleting or renaming files, and
opening files for writing outside the allowed folders or for reading outside the Python
installation, FairNAD and the allowed data folders. A refused action raises
``PermissionError`` with a message starting with :data:`MARK`.
"""

from __future__ import annotations

import logging
import os
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

MARK = "FairNAD sandbox:"

_BLOCKED_EVENTS = {
    "os.system": "running a shell command",
    "os.exec": "replacing the process",
    "os.posix_spawn": "starting a process",
    "os.spawn": "starting a process",
    "os.fork": "forking",
    "os.forkpty": "forking",
    "subprocess.Popen": "starting a process",
    "os.kill": "signalling a process",
    "os.killpg": "signalling a process",
    "socket.connect": "network access",
    "socket.bind": "network access",
    "socket.getaddrinfo": "network access",
    "socket.gethostbyname": "network access",
    "socket.sendto": "network access",
    "urllib.Request": "network access",
    "ctypes.dlopen": "loading a native library",
    "ctypes.dlsym": "calling native code",
    "os.putenv": "changing the environment",
    "os.unsetenv": "changing the environment",
    "sys.setprofile": "tracing the interpreter",
    "sys.settrace": "tracing the interpreter",
    "code.__new__": "building code objects",
    "function.__new__": "building functions from code objects",
    "marshal.loads": "loading code",
    "pickle.find_class": "unpickling",
}
# File-system changes, allowed only when every path they name lies in a writable folder.
_PATH_EVENTS = {
    "os.remove": "deleting a file",
    "os.rmdir": "deleting a folder",
    "shutil.rmtree": "deleting a folder",
    "os.rename": "renaming a file",
    "os.mkdir": "creating a folder",
    "os.chmod": "changing permissions",
    "os.chown": "changing ownership",
    "os.truncate": "truncating a file",
    "os.symlink": "creating a link",
    "os.link": "creating a link",
    "os.utime": "changing file times",
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_SYSTEM_READ_ROOTS = ("/proc", "/sys", "/dev/null", "/dev/urandom", "/dev/shm", "/etc/localtime", "/usr/share/zoneinfo")


def _default_read_roots() -> list[Path]:
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(__file__).resolve().parent.parent}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            roots.add(Path(sysconfig.get_path(key)))
        except KeyError:
            pass
    roots.update(Path(p) for p in sys.path if p and Path(p).is_dir())
    roots.update(Path(p) for p in _SYSTEM_READ_ROOTS)
    return [r.resolve() for r in roots]


def _inside(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def install_guard(
    *, read: Iterable[str | os.PathLike[str]] = (), write: Iterable[str | os.PathLike[str]] = (), kernel: bool = True
) -> int:
    """Install the audit hook for the rest of this process's life, and (``kernel``) Landlock.

    Returns the Landlock ABI that confines the process, 0 when the kernel has none.
    """
    read_roots = _default_read_roots() + [Path(p).resolve() for p in read]
    write_roots = [Path(p).resolve() for p in write]
    abi = 0
    if kernel:
        from fairnad_tools.landlock import restrict

        try:
            abi = restrict(read=read_roots, write=write_roots)
        except OSError as exc:  # offered but refused (a seccomp filter, an old libc): the audit hook stays
            log.warning("Landlock could not confine this worker (%s); the audit-hook guard alone applies", exc)

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            target, mode, flags = (tuple(args) + (None, None))[:3]
            if isinstance(target, int) or target is None:
                return
            path = Path(os.fsdecode(target)).resolve()
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writing and not _inside(path, write_roots):
                raise PermissionError(f"{MARK} writing {path} is not allowed in a candidate")
            if not writing and not _inside(path, read_roots + write_roots):
                raise PermissionError(f"{MARK} reading {path} is not allowed in a candidate")
            return
        if event in _PATH_EVENTS:
            paths = [Path(os.fsdecode(a)).resolve() for a in args if isinstance(a, str | bytes | os.PathLike)]
            if not paths or not all(_inside(p, write_roots) for p in paths):
                raise PermissionError(f"{MARK} {_PATH_EVENTS[event]} ({event}) is not allowed in a candidate")
            return
        what = _BLOCKED_EVENTS.get(event)
        if what is not None:
            raise PermissionError(f"{MARK} {what} ({event}) is not allowed in a candidate")

    sys.addaudithook(hook)
    return abi


def load_candidate(path: Path, num_classes: int):  # -> torch.nn.Module
    """Import a candidate file as a module (registered, as dataclasses need) and build it."""
    import importlib.util

    from torch import nn

    name = f"fairnad_candidate_{len([m for m in sys.modules if m.startswith('fairnad_candidate_')])}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    model = module.build_model(num_classes)
    if not isinstance(model, nn.Module):
        raise TypeError(f"build_model returned {type(model).__name__}, expected torch.nn.Module")
    return model
