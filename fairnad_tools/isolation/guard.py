"""Run-time guard for candidate code, installed in the worker just before the candidate loads.

The static check rejects what it can see; this is the second line for what it cannot (a
path assembled at run time, an API nobody listed). A PEP 578 audit hook, which cannot be
removed once added, refuses in the worker process: process creation, signals to other
processes, network sockets, loading native libraries, deleting or renaming files, and
opening files for writing outside the allowed folders or for reading (or listing a folder)
outside what the worker needs; building code objects and loading code from bytes
(``marshal.loads``); ``dataclasses`` compiling methods for a class whose field names are not
identifiers (its generated source would carry them as code). A refused action raises ``PermissionError`` with a message starting
with :data:`MARK`.

**What a worker may read.** The code it runs: the Python installation, FairNAD's package
folders (``fairnad_tools``, ``agents``, ``graph``, ``knowledge``; not the project folder that
holds them, with its ``.git``, runs, settings and notes), and the folder of any other
top-level module it imported before the guard; the folders its caller grants (the
candidate's, a data folder); a few device and time-zone files; and below ``/proc`` and
``/sys`` only its own ``/proc/<pid>`` folder and the CPU and memory information libraries
read (:func:`fairnad_tools.isolation.landlock.process_read_roots`). ``/proc/<pid>`` of any other
process (the environment of the FairNAD process that holds the API key, of a shell, of a
sibling) is refused, here and by Landlock, which also stops native code; ``sys.path``
entries are not granted as such (the project folder is on the children's ``PYTHONPATH``).

**Lazy imports.** Ordinary model code makes torch import modules on first use: printing a
tensor imports ``torch._subclasses.schema_check_mode``; ``torch.utils.checkpoint`` imports
torch's compiler stack (about 850 modules); other helpers do the same. Python's import
system loads a module's cached bytecode with ``marshal.loads``, so a guard that refuses
every ``marshal.loads`` refuses a tensor print. No list of such modules can be complete (it
changes with each torch release and with what a model calls), so the guard follows a rule:
``marshal.loads`` is allowed when its caller is the standard library's own bytecode loader
(``SourceLoader.get_code`` of a plain ``SourceFileLoader``, matched by code object, not by
name) and both the module's source and the bytecode file it read are *trusted*: inside the
Python installation (standard library, site-packages) or FairNAD's own packages, and not
below any folder the worker may write to, nor below an extra folder it may read (a
candidate's folder, a data folder) that lies inside the installation.

Why this is safe: the bytes unmarshalled come from files the candidate cannot write, so
they are the code of the installed package, exactly what ``import`` would run without a
guard; a candidate that calls ``marshal.loads`` itself (or the loader's helper directly, or
a loader of its own making, or a ``.pyc`` beside it) is refused as before, because the
caller or the file is not trusted. The candidate itself is compiled from its checked
source text, never from a ``.pyc``. Folders the candidate may write to or read (other than
the installation itself) are removed from ``sys.path``, so no import can pick up a module
placed there. Whatever a trusted module
does once imported (open files, start processes, open sockets, load native libraries, set
environment variables) still meets every other refusal, and Landlock
(:mod:`fairnad_tools.isolation.landlock`) confines native code.

One lazy import has side effects the guard must refuse: ``torch._dynamo`` (pulled in by
``torch.utils.checkpoint`` and other helpers) creates torch's compile-cache folders in the
temporary folder and sets an environment variable when imported. :func:`install_guard`
imports the modules of :data:`IMPORT_BEFORE_GUARD` first, when torch is loaded, so no
candidate needs them later (the fork server imports them once, before it forks workers; a
fresh training worker pays about 2 s). The test ``tests/test_faults_sandbox.py`` runs a battery of ordinary
operations (tensor repr and formatting, error messages, functional helpers, attention fast
paths, checkpointing, parametrisations) under the guard and expects no refusal.
"""

from __future__ import annotations

import keyword
import logging
import os
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path
from types import FrameType

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
# Modules whose import writes outside the worker's folders (torch._dynamo: compile caches in the
# temporary folder); imported before the guard when torch is loaded, as ordinary model code may need them.
IMPORT_BEFORE_GUARD = ("torch._dynamo",)
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
# Outside the code and the allowed folders a candidate may read only these, and what
# fairnad_tools.isolation.landlock.process_read_roots() names below /proc and /sys (its own /proc folder, CPU and
# memory information): never /proc/<pid> of another process, never the project folder as a whole.
_SYSTEM_READ_ROOTS = ("/dev/null", "/dev/urandom", "/dev/shm", "/etc/localtime", "/usr/share/zoneinfo")
# Directory listings are reads too (os.listdir, os.scandir, and glob and os.walk through them).
_LIST_EVENTS = frozenset({"os.listdir", "os.scandir"})

FAIRNAD_PACKAGES = ("fairnad_tools", "agents", "graph", "knowledge")
_PROJECT = Path(__file__).resolve().parents[2]


def _inside(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _installation_roots() -> set[Path]:
    """The Python installation: its prefixes (unless one holds the project) and its library folders."""
    roots = set()
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        if not _inside(_PROJECT, [Path(prefix).resolve()]):  # a Python installed above the project folder
            roots.add(Path(prefix))
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            roots.add(Path(sysconfig.get_path(key)))
        except KeyError:
            pass
    return roots


def _package_roots() -> set[Path]:
    """FairNAD's own package folders (not the project folder that holds them, its .git, runs or settings)."""
    return {_PROJECT / name for name in FAIRNAD_PACKAGES if (_PROJECT / name).is_dir()}


def _imported_code_roots(known: list[Path]) -> set[Path]:
    """Folders (or single files) of the top-level modules this process imported from outside ``known``.

    A package installed on ``PYTHONPATH`` (not in site-packages) keeps working, lazy imports
    included, without opening the folder that holds it: only the package's own folder is
    granted, never a ``sys.path`` entry, the project folder or a folder above it.
    """
    entries = {Path(p).resolve() for p in sys.path if isinstance(p, str)}
    found: set[Path] = set()
    for name, module in list(sys.modules.items()):
        if "." in name or module is None:
            continue
        paths = list(getattr(module, "__path__", None) or [])
        if not paths and isinstance(getattr(module, "__file__", None), str):
            paths = [module.__file__]
        for raw in paths:
            if not isinstance(raw, str) or not os.path.isabs(raw):
                continue
            path = Path(raw).resolve()
            if not path.exists() or _inside(path, known) or path in entries or _inside(_PROJECT, [path]):
                continue
            found.add(path)
    return found


def _default_read_roots() -> list[Path]:
    """What every guarded worker may read: the code it runs and the system files libraries need."""
    from fairnad_tools.isolation.landlock import process_read_roots

    code = [r.resolve() for r in _installation_roots() | _package_roots()]
    roots = set(code) | _imported_code_roots(code)
    roots.update(Path(p) for p in _SYSTEM_READ_ROOTS)
    roots.update(process_read_roots())
    return [r.resolve() for r in roots]


def _code_roots() -> list[Path]:
    """Where trusted modules live: the Python installation and FairNAD's own packages."""
    return [r.resolve() for r in _installation_roots() | _package_roots()]


class _TrustedCode:
    """Whether a file is trusted code: inside the installation, in no folder a candidate could fill.

    A write root anywhere makes the files below it untrusted (the candidate could put a
    ``.pyc`` there). A read-only root (the candidate's folder, a data folder) does so only
    where it lies inside a code root: one above the installation (a candidate saved in the
    project folder that holds the virtual environment) cannot change what is installed.
    """

    def __init__(self, code_roots: list[Path], write_roots: list[Path], read_roots: list[Path]) -> None:
        self.code_roots = code_roots
        self.read_roots = read_roots
        self.holes = write_roots + [r for r in read_roots if _inside(r, code_roots)]
        self._cache: dict[str, bool] = {}

    def __call__(self, filename: str | os.PathLike[str] | None) -> bool:
        if not filename:
            return False
        key = os.fspath(filename)
        verdict = self._cache.get(key)
        if verdict is None:
            if not os.path.isabs(key):  # <string>, <frozen ...>: no file a loader read
                verdict = False
            else:
                path = Path(key).resolve()
                verdict = _inside(path, self.code_roots) and not _inside(path, self.holes)
            self._cache[key] = verdict
        return verdict


def _import_codes() -> tuple[object, object, type]:
    """Code objects of the import system's bytecode path, matched by identity (not by name)."""
    from importlib import _bootstrap_external

    return (
        _bootstrap_external._compile_bytecode.__code__,
        _bootstrap_external.SourceLoader.get_code.__code__,
        _bootstrap_external.SourceFileLoader,
    )


def _trusted_bytecode_load(frame: FrameType | None, trusted: _TrustedCode) -> bool:
    """``marshal.loads`` called by the standard bytecode loader for a trusted module's ``.pyc``."""
    compile_bytecode, get_code, source_loader = _import_codes()
    if frame is None or frame.f_code is not compile_bytecode:
        return False
    caller = frame.f_back
    if caller is None or caller.f_code is not get_code:
        return False
    loader = caller.f_locals.get("self")
    if type(loader) is not source_loader:  # a subclass could feed its own bytes
        return False
    return trusted(getattr(loader, "path", None)) and trusted(caller.f_locals.get("bytecode_path"))


def _dataclass_codegen_problem(frame: FrameType | None) -> str | None:
    """A field name that is not an identifier, when ``dataclasses`` is about to compile methods for its class.

    dataclasses writes ``__init__``, ``__repr__``, ``__eq__`` ... as source text built from the
    field names and compiles it. The names come from the class's ``__annotations__`` (or a
    base's ``__dataclass_fields__``), which a metaclass or a namespace built at run time can
    fill with any string: a name that is not an identifier would be code no check has seen.
    """
    module = sys.modules.get("dataclasses")
    process = getattr(getattr(module, "_process_class", None), "__code__", None)
    while process is not None and frame is not None:
        if frame.f_code is process:
            fields = frame.f_locals.get("fields")
            for item in fields.values() if isinstance(fields, dict) else ():
                name = getattr(item, "name", None)
                if not (isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)):
                    return repr(name)
            return None
        frame = frame.f_back
    return None


def _import_before_guard() -> None:
    """Import :data:`IMPORT_BEFORE_GUARD` now, while their side effects are still allowed."""
    import importlib

    for name in IMPORT_BEFORE_GUARD:
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a broken optional part of torch: the candidate may not need it
            log.warning("sandbox: importing %s before the guard failed (%s: %s)", name, type(exc).__name__, exc)


def _drop_untrusted_import_paths(trusted: _TrustedCode, readable: list[Path]) -> None:
    """Remove from ``sys.path`` (``''`` is the working folder) every folder a candidate could fill or not read.

    A folder stays when it is trusted code or lies outside every write root and every
    read-only root of the candidate: no import may find a file the candidate wrote or brought.
    A folder the worker may not read at all (the project folder, put on ``PYTHONPATH`` for
    the children) leaves too: the modules it held are imported already, and an import that
    looked there would only be refused.
    """
    holes = trusted.holes + trusted.read_roots
    kept = []
    for entry in sys.path:
        folder = Path(entry or os.getcwd()).resolve() if isinstance(entry, str) else None
        if folder is not None and _inside(folder, holes) and not trusted(str(folder)):
            log.debug("sandbox: %r removed from sys.path (a folder candidate code can write or read)", entry)
        elif folder is not None and folder.is_dir() and not _inside(folder, readable):
            log.debug("sandbox: %r removed from sys.path (a folder the worker may not read)", entry)
        else:
            kept.append(entry)
    sys.path[:] = kept


def _allowed_extra_roots(paths: Iterable[str | os.PathLike[str]], what: str) -> list[Path]:
    """The caller's extra roots, resolved; one that would expose other processes is dropped, with a warning."""
    from fairnad_tools.isolation.landlock import exposes_other_processes

    roots = []
    for raw in paths:
        path = Path(raw).resolve()
        if exposes_other_processes(path):
            log.warning("sandbox: %s root %s would expose other processes (/proc/<pid>); it is not granted", what, path)
            continue
        roots.append(path)
    return roots


def install_guard(
    *, read: Iterable[str | os.PathLike[str]] = (), write: Iterable[str | os.PathLike[str]] = (), kernel: bool = True
) -> int:
    """Install the audit hook for the rest of this process's life, and (``kernel``) Landlock.

    Call it in the process to be confined, after any fork: the process's own ``/proc``
    folder is the one it may read. ``read``: folders (or files) the candidate may read
    besides the code it runs (its own folder, data); ``write``: folders it may write to.
    Both are untrusted for imports (see the module docstring) and are removed from
    ``sys.path``. Nothing else is readable: not the project folder (only FairNAD's package
    folders), not ``/proc/<pid>`` of another process. Returns the Landlock ABI that
    confines the process, 0 when the kernel has none.
    """
    extra_read = _allowed_extra_roots(read, "read")
    write_roots = _allowed_extra_roots(write, "write")
    read_roots = _default_read_roots() + extra_read
    trusted = _TrustedCode(_code_roots(), write_roots, extra_read)
    _import_codes()  # resolve the import system's code objects now, not inside the hook
    if "torch" in sys.modules:
        _import_before_guard()
    _drop_untrusted_import_paths(trusted, read_roots + write_roots)
    abi = 0
    if kernel:
        from fairnad_tools.isolation.landlock import restrict

        try:
            abi = restrict(read=read_roots, write=write_roots)
        except OSError as exc:  # offered but refused (a seccomp filter, an old libc): the audit hook stays
            log.warning("Landlock could not confine this worker (%s); the audit-hook guard alone applies", exc)
    readable = read_roots + write_roots

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
            if not writing and not _inside(path, readable):
                raise PermissionError(f"{MARK} reading {path} is not allowed in a candidate")
            return
        if event in _LIST_EVENTS:
            target = args[0] if args else "."
            if isinstance(target, str | bytes | os.PathLike):
                path = Path(os.fsdecode(target) or ".").resolve()
                if not _inside(path, readable):
                    raise PermissionError(f"{MARK} listing the folder {path} is not allowed in a candidate")
            return
        if event in _PATH_EVENTS:
            paths = [Path(os.fsdecode(a)).resolve() for a in args if isinstance(a, str | bytes | os.PathLike)]
            if not paths or not all(_inside(p, write_roots) for p in paths):
                raise PermissionError(f"{MARK} {_PATH_EVENTS[event]} ({event}) is not allowed in a candidate")
            return
        if event == "compile":
            bad = _dataclass_codegen_problem(sys._getframe(1))
            if bad is not None:
                raise PermissionError(
                    f"{MARK} dataclasses would compile code from the field name {bad}; a field name must be an "
                    "identifier (declare fields as annotations in the class body)"
                )
            return
        what = _BLOCKED_EVENTS.get(event)
        if what is not None:
            if event == "marshal.loads" and _trusted_bytecode_load(sys._getframe(1), trusted):
                return  # the import system loading an installed module's .pyc (a lazy import)
            raise PermissionError(f"{MARK} {what} ({event}) is not allowed in a candidate")

    sys.addaudithook(hook)
    return abi


def load_candidate(path: Path, num_classes: int):  # -> torch.nn.Module
    """Import a candidate file as a module (registered, as dataclasses need) and build it.

    The source is decoded as Python decodes it (:func:`fairnad_tools.io.read_python_source`)
    and compiled from that text, never from a cached ``.pyc``: what runs is what the static
    check read. Raises ``SourceDecodeError`` (a ``ValueError``) for undecodable source,
    ``SyntaxError`` for invalid code, ``TypeError`` when ``build_model`` returns no module,
    and whatever the candidate's own code raises.
    """
    import importlib.util

    from torch import nn

    from fairnad_tools.io import read_python_source

    path = Path(path)
    name = f"fairnad_candidate_{len([m for m in sys.modules if m.startswith('fairnad_candidate_')])}"
    code = compile(read_python_source(path), str(path), "exec", dont_inherit=True)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader=None, origin=str(path)))
    module.__file__ = str(path)
    sys.modules[name] = module
    exec(code, module.__dict__)  # noqa: S102 - the candidate's checked source, under the guard
    model = module.build_model(num_classes)
    if not isinstance(model, nn.Module):
        raise TypeError(f"build_model returned {type(model).__name__}, expected torch.nn.Module")
    return model
