"""Crash safety: SIGKILL a run mid-way, resume it, lose nothing finished, repeat nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import ROOT, cli_env, read_summary, read_trace, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _train_events(run_dir: Path) -> list[dict]:
    if not (run_dir / "trace.jsonl").exists():
        return []
    return [e for e in read_trace(run_dir) if e["event"] == "tool_call" and e.get("tool") == "train"]


def _processes_inside(run_dir: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(Path(os.readlink(entry / "cwd"))).startswith(str(run_dir)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_sigkill_then_resume_keeps_every_finished_candidate(tmp_path):
    run_dir = tmp_path / "run"
    budget = 5
    proc = subprocess.Popen(
        [sys.executable, "-m", "fairnad", "run", "--run-dir", str(run_dir), "--budget", str(budget), "--epochs", "2", "-q"],
        cwd=ROOT, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 400
        # wait until two candidates finished training and a third one is in flight
        while time.monotonic() < deadline:
            events = _train_events(run_dir)
            finished = [e for e in events if e["phase"] == "finished"]
            started = [e for e in events if e["phase"] == "start"]
            if len(finished) >= 2 and len(started) > len(finished):
                # freeze the run where it is: while the busy check below starts a whole CLI, the
                # run must not move on (on a fast machine it could even finish and free its lock)
                os.kill(proc.pid, signal.SIGSTOP)
                break
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.2)
        else:
            pytest.fail("the run did not reach its third training in time")

        busy = run_cli("resume", str(run_dir), "-q", timeout=60)
        assert busy.returncode != 0 and "in use by another FairNAD process" in busy.stderr

        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = {e["candidate"]: e for e in _train_events(run_dir) if e["phase"] == "finished"}
    for _ in range(50):  # workers die with FairNAD (PR_SET_PDEATHSIG)
        if not _processes_inside(run_dir):
            break
        time.sleep(0.1)
    assert not _processes_inside(run_dir), "a worker outlived the killed run"

    result = run_cli("resume", str(run_dir), "-q", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr

    summary = read_summary(run_dir)
    assert summary["status"] == "finished"
    counted = [c for c in summary["candidates"] if c["status"] in ("trained", "failed")]
    assert len(counted) == budget
    ids = [c["id"] for c in summary["candidates"]]
    assert len(ids) == len(set(ids))
    by_id = {c["id"]: c for c in summary["candidates"]}
    for cid, event in before.items():  # nothing finished was lost, nor retrained with another result
        assert by_id[cid]["status"] == event["status"]
        assert by_id[cid]["val_acc"] == event["val_acc"]
        metrics = json.loads((run_dir / "candidates" / cid / "metrics.json").read_text())
        assert metrics["val_acc"] == event["val_acc"]
    events = _train_events(run_dir)
    finished_per_candidate = Counter(e["candidate"] for e in events if e["phase"] == "finished")
    assert max(finished_per_candidate.values()) == 1, finished_per_candidate  # none trained twice
    # a training of the interrupted round that finished (before the kill, or in its worker while the
    # run was frozen) is taken from its kept result ("reused") by the resumed run, not trained again
    reused = {e["candidate"] for e in events if e["phase"] == "reused"}
    assert set(finished_per_candidate) | reused == {c["id"] for c in counted}
    assert any(e["event"] == "run_resumed" for e in read_trace(run_dir))
