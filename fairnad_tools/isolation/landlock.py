"""Kernel-level sandbox for worker processes: Linux Landlock, where the kernel offers it.

The audit-hook guard (:mod:`fairnad_tools.isolation.guard`) sees what Python does; Landlock also
covers what native code does (a torch operator that opens a file or a socket). After
:func:`restrict`, the process and its children can read and execute only below the given
read roots, write only below the write roots, and open no TCP connection (Landlock ABI 4
or newer); with ABI 6 it can neither signal other processes nor reach abstract Unix
sockets. Restrictions cannot be lifted. On kernels without Landlock, :func:`restrict`
changes nothing and says so.

**/proc and /sys.** A process may read only its own ``/proc`` folder and the few system
files libraries read to size thread pools and caches (:func:`process_read_roots`), never
``/proc/<pid>`` of another process: the environment, command line and memory of the
process that started FairNAD, of a shell, of any process of the same user, lie there.
Landlock rules attach to the inode a path names when the rule is added, so the rule for
``/proc/self`` names the pid folder of the process that calls :func:`restrict`: call it in
the process to be confined, after any fork (a fork server's child calls it itself). That
folder's descriptor stays open for the life of the process: procfs makes a new inode for a
pid folder whose cached entry was dropped, which a rule on the old one would not cover.
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Iterable
from pathlib import Path

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_O_PATH = getattr(os, "O_PATH", 0o10000000)

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_WRITE_DIR = sum(1 << i for i in range(4, 13))  # remove dir/file, make char/dir/reg/sock/fifo/block/sym
REFER, TRUNCATE = 1 << 13, 1 << 14
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE
_CONNECT_TCP_AND_BIND = (1 << 0) | (1 << 1)
_SCOPE_ABSTRACT_UNIX_AND_SIGNAL = (1 << 0) | (1 << 1)

# Shared libraries (read and map as code) and devices; no /etc, /home, /tmp. /proc and /sys: process_read_roots().
SYSTEM_READ_ROOTS = (
    "/usr/lib",
    "/usr/lib64",
    "/usr/local/lib",
    "/lib",
    "/lib64",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/dev",
)
SYSTEM_WRITE_ROOTS = ("/dev/null", "/dev/shm")
# System information that libraries read to size thread pools, caches and memory (glibc, OpenMP, oneDNN,
# torch): CPU count and topology, NUMA nodes, cgroup CPU quota, memory, transparent huge pages; the NVIDIA
# driver's information. None of it belongs to another process.
PROC_SYS_READ = (
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/sys/vm/overcommit_memory",
    "/proc/driver/nvidia",
    "/sys/devices/system/cpu",
    "/sys/devices/system/node",
    "/sys/fs/cgroup",
    "/sys/kernel/mm/transparent_hugepage",
)
_PINNED: list[int] = []  # descriptors of this process's own /proc folder (see the module docstring)


def own_proc_folder() -> Path:
    """``/proc/<pid>`` of the calling process (what ``/proc/self`` names now, in this process)."""
    return Path(f"/proc/{os.getpid()}")


def process_read_roots() -> list[Path]:
    """What a confined process may read below /proc and /sys: its own pid folder and :data:`PROC_SYS_READ`."""
    return [own_proc_folder(), *(Path(p) for p in PROC_SYS_READ)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi_version() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is unavailable."""
    try:
        version = _libc().syscall(
            _SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION)
        )
    except (OSError, AttributeError):
        return 0
    return max(0, int(version))


def _handled_fs(abi: int) -> int:
    rights = EXECUTE | WRITE_FILE | READ_FILE | READ_DIR | _WRITE_DIR
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    return rights  # IOCTL_DEV (ABI 5) is left unhandled: device ioctls (a GPU) keep working


def _add_path(libc: ctypes.CDLL, ruleset: int, path: str, access: int, *, keep: bool = False) -> None:
    try:
        fd = os.open(path, _O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a root that does not exist here
    try:
        if not os.path.isdir(path):
            access &= _FILE_RIGHTS
        attr = ctypes.create_string_buffer(struct.pack("=Qi", access, fd))
        if libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, attr, 0) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule({path}) failed")
    except BaseException:
        os.close(fd)
        raise
    if keep:
        _PINNED.append(fd)
    else:
        os.close(fd)


def exposes_other_processes(path: str | os.PathLike[str]) -> bool:
    """Whether a read root would expose another process: ``/proc`` itself, a folder above it, or
    ``/proc/<pid>`` (or below) of a process other than this one."""
    parts = Path(os.path.abspath(path)).parts
    if len(parts) <= 2:
        return len(parts) == 1 or parts[1] == "proc"  # "/" or "/proc"
    return parts[1] == "proc" and parts[2].isdigit() and parts[2] != str(os.getpid())


def restrict(read: Iterable[str | os.PathLike[str]], write: Iterable[str | os.PathLike[str]]) -> int:
    """Confine this process; returns the ABI used (0: not available, nothing was changed).

    ``read`` and ``write`` are folders (or single files); the system libraries, devices and
    :func:`process_read_roots` are added. A root that would expose another process
    (:func:`exposes_other_processes`) is dropped, and nothing below /proc is made writable.
    """
    abi = abi_version()
    if abi == 0:
        return 0
    libc = _libc()
    fs = _handled_fs(abi)
    if abi >= 6:
        attr = struct.pack("=QQQ", fs, _CONNECT_TCP_AND_BIND, _SCOPE_ABSTRACT_UNIX_AND_SIGNAL)
    elif abi >= 4:
        attr = struct.pack("=QQ", fs, _CONNECT_TCP_AND_BIND)
    else:
        attr = struct.pack("=Q", fs)
    buffer = ctypes.create_string_buffer(attr)
    ruleset = libc.syscall(_SYS_CREATE_RULESET, buffer, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        readable = EXECUTE | READ_FILE | READ_DIR
        own = str(own_proc_folder())
        for path in {str(Path(p).resolve()) for p in [*SYSTEM_READ_ROOTS, *process_read_roots(), *read]}:
            if not exposes_other_processes(path):
                _add_path(libc, ruleset, path, readable, keep=path == own)
        for path in {str(Path(p).resolve()) for p in [*SYSTEM_WRITE_ROOTS, *write]}:
            if not exposes_other_processes(path) and not path.startswith(own + "/") and path != own:
                _add_path(libc, ruleset, path, fs)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return abi
