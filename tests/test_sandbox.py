"""Escape attempts: rejected statically, refused at run time, or stopped; FairNAD survives."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fairnad_tools.arch import render
from fairnad_tools.arch.seeds import resnet32
from fairnad_tools.verify import verify_file
from tests.conftest import cli_env

pytestmark = pytest.mark.timeout(180)


def run_probe(source: str, *args: object, env: dict[str, str] | None = None) -> str:
    """Run ``source`` in a fresh interpreter (a guard cannot be lifted once installed); its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", source, *map(str, args)],
        capture_output=True,
        text=True,
        env=env or cli_env(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _landlock_abi() -> int:
    from fairnad_tools.isolation.landlock import abi_version

    return abi_version()


needs_landlock = pytest.mark.skipif(
    _landlock_abi() == 0, reason="this kernel has no Landlock; workers run with the audit-hook guard only"
)

HEAD = "import torch\nfrom torch import nn\nimport torch.nn.functional as F\nimport typing\n\n"
TAIL = "\n    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_classes))\n"

ESCAPES = {
    "read_file": ("    open('/etc/hostname').read()", {"forbidden_call"}),
    "read_file_pathlib": ("    import pathlib\n    pathlib.Path('/etc/hostname').read_text()", {"forbidden_import"}),
    "spawn_subprocess": ("    import subprocess\n    subprocess.run(['true'])", {"forbidden_import"}),
    "spawn_via_torch_os": ("    torch.os.system('true')", {"forbidden_call"}),
    "spawn_via_dunder_import": ("    __import__('os').system('true')", {"forbidden_call"}),
    "open_socket": ("    import socket\n    socket.create_connection(('192.0.2.1', 80))", {"forbidden_import"}),
    "os_via_subclasses": (
        "    for cls in ().__class__.__bases__[0].__subclasses__():\n        pass",
        {"forbidden_call"},
    ),
    "os_via_typing_sys": ("    typing.sys.modules['os'].system('true')", {"forbidden_call"}),
    "os_via_computed_getattr": ("    getattr(torch, 'o' + 's').system('true')", {"forbidden_call"}),
    "numpy_through_functional": ("    F.np.load('/etc/hostname')", {"forbidden_call"}),
    "torch_load": ("    torch.load('/tmp/weights.pt')", {"forbidden_call"}),
    "torch_ops_from_file": ("    torch.ops.aten.from_file('/etc/hostname')", {"forbidden_call"}),
    "builtins_dict": ("    __builtins__['open']('/etc/hostname')", {"forbidden_call"}),
    # torch.empty reserves address space without filling it: the memory limit fires at once, long
    # before the time limit could, on any machine
    "exhaust_memory": ("    hog = [torch.empty(10**8) for _ in range(10_000)]", {"out_of_memory"}),
    "sleep_forever": ("    while True:\n        pass", {"timeout"}),
}


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_escape_attempt_is_refused(tmp_path, name):
    body, codes = ESCAPES[name]
    path = tmp_path / f"{name}.py"
    path.write_text(HEAD + "def build_model(num_classes):\n" + body + TAIL)
    report = verify_file(path, timeout_s=20 if name == "exhaust_memory" else 6)
    assert report.code in codes, f"{name}: {report.code}: {report.message}"


def test_main_process_survives_and_still_verifies(tmp_path):
    for name in ("exhaust_memory", "sleep_forever"):
        body, _ = ESCAPES[name]
        path = tmp_path / f"{name}.py"
        path.write_text(HEAD + "def build_model(num_classes):\n" + body + TAIL)
        verify_file(path, timeout_s=4)
    good = tmp_path / "good.py"
    good.write_text(render(resnet32()))
    assert verify_file(good).ok


GUARD_PROBE = textwrap.dedent(
    """
    import os, socket, subprocess, sys
    from pathlib import Path
    from fairnad_tools.isolation.guard import MARK, install_guard

    work = Path(sys.argv[1])
    install_guard(write=[work])
    (work / "ok.txt").write_text("inside the writable folder")
    os.replace(work / "ok.txt", work / "moved.txt")
    attempts = {
        "read outside": lambda: open("/etc/hostname").read(),
        "write outside": lambda: open(work.parent / "escape.txt", "w"),
        "process": lambda: subprocess.run(["true"]),
        "shell": lambda: os.system("true"),
        "socket": lambda: socket.socket().bind(("127.0.0.1", 0)),
        "name lookup": lambda: socket.getaddrinfo("localhost", 80),
        "delete outside": lambda: os.remove(work.parent / "anything"),
    }
    for what, attempt in attempts.items():
        try:
            attempt()
        except PermissionError as exc:
            assert MARK in str(exc), exc
            print("refused", what)
        else:
            print("ALLOWED", what)
    """
)


def test_run_time_guard_refuses_what_static_checks_cannot_see(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    stdout = run_probe(GUARD_PROBE, work)
    assert "ALLOWED" not in stdout, stdout
    assert stdout.count("refused") == 7
    assert (work / "moved.txt").is_file() and not (tmp_path / "escape.txt").exists()


RUN_TIME_ESCAPES = {
    # torch APIs the static lists do not name: only the run-time guard stands in the way
    "network_through_model_zoo": "    torch.utils.model_zoo.load_url('http://192.0.2.1/weights.pt')",
    "process_through_collect_env": "    torch.utils.collect_env.get_pretty_env_info()",
}


@pytest.mark.parametrize("name", sorted(RUN_TIME_ESCAPES))
def test_guard_turns_a_run_time_escape_into_forbidden_call(tmp_path, name):
    path = tmp_path / f"{name}.py"
    path.write_text(
        HEAD
        + "import torch.utils.model_zoo\nimport torch.utils.collect_env\n\n"
        + "def build_model(num_classes):\n"
        + RUN_TIME_ESCAPES[name]
        + TAIL
    )
    report = verify_file(path, timeout_s=10)
    assert report.code == "forbidden_call", report.message
    assert "FairNAD sandbox:" in report.message


LANDLOCK_PROBE = textwrap.dedent(
    """
    import os, socket, sys
    from pathlib import Path
    from fairnad_tools.isolation.landlock import restrict

    work = Path(sys.argv[1])
    print("abi", restrict(read=[], write=[work]))
    (work / "inside.txt").write_text("ok")  # writable folder
    attempts = {
        # os.open goes straight to the kernel: no audit hook is installed in this probe
        "read /etc": lambda: os.open("/etc/hostname", os.O_RDONLY),
        "write outside": lambda: os.open(str(work.parent / "escape.txt"), os.O_WRONLY | os.O_CREAT),
        "tcp connect": lambda: socket.create_connection(("127.0.0.1", 9), timeout=1),
    }
    for what, attempt in attempts.items():
        try:
            attempt()
        except PermissionError:
            print("refused", what)
        except OSError as exc:
            print("other", what, exc)
        else:
            print("ALLOWED", what)
    """
)


@needs_landlock
def test_landlock_confines_native_file_and_network_access(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in cli_env().items() if k != "PYTHONPATH"}  # no netblock: let Landlock refuse
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    stdout = run_probe(LANDLOCK_PROBE, work, env=env)
    assert "refused read /etc" in stdout and "refused write outside" in stdout, stdout
    if int(stdout.split()[1]) >= 4:
        assert "refused tcp connect" in stdout, stdout
    assert (work / "inside.txt").is_file() and not (tmp_path / "escape.txt").exists()


NATIVE_PROBE = textwrap.dedent(
    """
    import ctypes, sys
    from pathlib import Path
    from fairnad_tools.isolation.guard import install_guard

    work = Path(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    native_open = libc.open  # resolved before the guard: afterwards it calls C directly, unseen by audit hooks
    print("abi", install_guard(write=[work]))
    for what, path in (("outside", b"/etc/hostname"), ("inside", str(work / "data.txt").encode())):
        fd = native_open(path, 0)
        print(("opened " if fd >= 0 else "refused ") + what, ctypes.get_errno() if fd < 0 else "")
    """
)


@needs_landlock
def test_workers_guard_also_confines_native_code_through_landlock(tmp_path):
    """Native code (a torch operator, a C extension) opens files below the audit hook; Landlock stops it."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "data.txt").write_text("readable")
    stdout = run_probe(NATIVE_PROBE, work)
    assert int(stdout.split()[1]) >= 1, stdout
    assert "refused outside 13" in stdout, stdout  # EACCES from the kernel
    assert "opened inside" in stdout, stdout


FALLBACK_PROBE = textwrap.dedent(
    """
    import logging, sys
    from pathlib import Path
    import fairnad_tools.isolation.landlock as landlock
    from fairnad_tools.isolation.guard import MARK, install_guard

    def refused(*args, **kwargs):
        raise OSError(1, "landlock_restrict_self failed")

    landlock.restrict = refused  # a kernel that offers Landlock but refuses it (a seccomp filter, say)
    logging.basicConfig(stream=sys.stdout, format="%(levelname)s %(message)s")
    print("abi", install_guard(write=[Path(sys.argv[1])]))
    try:
        open("/etc/hostname").read()
    except PermissionError as exc:
        print("audit hook still refuses" if MARK in str(exc) else exc)
    """
)


def test_a_refused_landlock_leaves_the_audit_hook_guard_in_place(tmp_path):
    stdout = run_probe(FALLBACK_PROBE, tmp_path)
    assert "WARNING Landlock could not confine this worker" in stdout, stdout
    assert "abi 0" in stdout and "audit hook still refuses" in stdout, stdout
