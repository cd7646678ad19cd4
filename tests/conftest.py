"""Shared fixtures: running the CLI in a subprocess (with the network blocked), finished runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NETBLOCK = Path(__file__).resolve().parent / "netblock"

# One torch thread per process. pytest-xdist runs a worker per core and many tests start runs whose
# trainings would each take every core: torch's thread pools oversubscribed that way made two
# concurrent digits runs take over 800 s instead of 50 s on a 2-core machine. Set before anything
# imports torch, and inherited by every run, verifier and trainer the tests start.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"


def cli_env(extra: dict[str, str] | None = None, pythonpath: list[Path] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAIRNAD_")}
    paths = [str(p) for p in (pythonpath or [])] + [str(NETBLOCK)]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    env["COLUMNS"] = "200"
    env["OMP_NUM_THREADS"] = "1"
    env["MKL_NUM_THREADS"] = "1"
    env.update(extra or {})
    return env


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 240,
    pythonpath: list[Path] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m fairnad ARGS`` in a child process with the network blocked."""
    return subprocess.run(
        [sys.executable, "-m", "fairnad", *args],
        cwd=cwd or ROOT,
        env=cli_env(env, pythonpath),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


SHARED_RUN_TIMEOUT_S = 1500  # a whole run: generous, so a slow or busy machine never fails it


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that may build the shared run gets the run's time on top of its own limit.

    The first test to ask for :func:`digits_run` pays for making it (under a minute on an idle
    machine, several on a busy 2-core one); which test that is depends on scheduling, so every
    test using the fixture gets a limit that covers the run.
    """
    for item in items:
        if "digits_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.timeout(SHARED_RUN_TIMEOUT_S + 300), append=False)


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished default run on digits (budget 6, 2 epochs to keep the suite quick); read only.

    Made once per test session, also when pytest-xdist spreads the tests over several worker
    processes: the first worker that needs it runs it under a file lock in the temporary folder
    the workers share, the others wait and reuse it (a test that changes a run copies it first).
    """
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the base folder of all workers
    run_dir, failed = shared / "digits6", shared / "digits6.failed"
    with FileLock(str(shared / "digits6.lock")):
        if failed.is_file():
            pytest.fail(f"the shared digits run failed: {failed.read_text()}")
        if not (run_dir / "summary.json").is_file() or read_summary(run_dir)["status"] != "finished":
            if (run_dir / "settings.toml").is_file():  # an earlier try was cut short: continue it
                result = run_cli("resume", str(run_dir), "-q", timeout=SHARED_RUN_TIMEOUT_S)
            else:
                result = run_cli(
                    "run",
                    "--run-dir",
                    str(run_dir),
                    "--budget",
                    "6",
                    "--dataset",
                    "digits",
                    "--epochs",
                    "2",
                    "-q",
                    timeout=SHARED_RUN_TIMEOUT_S,
                )
            if result.returncode != 0:
                failed.write_text(result.stdout + result.stderr)
            assert result.returncode == 0, result.stdout + result.stderr
    return run_dir


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def read_trace(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines() if line.strip()]
