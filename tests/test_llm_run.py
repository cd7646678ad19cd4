"""Whole runs with an LLM: ``fairnad run --llm ...`` against the scripted OpenAI-compatible server.

The server (``tests/llm_server.py``) runs in this process on 127.0.0.1; the run is a CLI child
process (its network is blocked except the loopback). Budget 4 on digits makes one candidate
per round after the seed, so the script is served in a known order:

* 0001: the server answers 429 (``Retry-After: 1``), then 500, then code whose forward pass
  fails; the verifier's report sends it back once and the repair prompt gets the fixed file;
* 0002: over-budget code; the budget repair gets a smaller file;
* 0003: an answer cut short (``finish_reason: "length"``), which is never shown to the
  verifier; the agent is asked again and answers a good file.

Then the recorded run is replayed (``--llm replay:RUN --replay-metrics``) and must reproduce
it, and a killed run must resume without repeating the calls of finished candidates.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, cli_env, read_summary, read_trace, run_cli
from tests.llm_server import Response, ScriptedLLMServer, answer, error

pytestmark = [pytest.mark.allow_hosts(["127.0.0.1"]), pytest.mark.timeout(1200)]

SCENARIO = Path(__file__).parent / "llm_scenario"
PROBE = "Reply with the word OK"
LESSONS_PROMPT = "FairNAD's feedback agent"
LESSONS = "## Helped\n- squeeze-and-excitation blocks trained well"


def fenced(name: str) -> str:
    return f"Here is the new model.\n\n```python\n{(SCENARIO / name).read_text()}```\n"


def scenario() -> list[Response]:
    return [
        answer("OK", match=PROBE, repeat=True),
        answer(LESSONS, match=LESSONS_PROMPT, repeat=True),  # the feedback agent's lessons after rounds 1 and 2
        # 0001: a busy server, then broken code, then the fix the repair prompt asks for
        error(429, "rate limited", headers={"Retry-After": "1"}),
        error(500, "internal error"),
        answer(fenced("broken_forward.py")),
        answer(fenced("small_se.py"), match="mat1 and mat2"),
        # 0002: over the parameter budget, then downscaled
        answer(fenced("over_budget.py")),
        answer(fenced("small_se_k5.py"), match="1.500M"),
        # 0003: cut short, then a whole file
        answer("```python\nimport torch\nfrom torch import nn\n\nclass Net(nn.Module):\n    def __init__(self, n", finish_reason="length"),
        answer(fenced("small_se_deeper.py")),
    ]  # fmt: skip


RUN_FLAGS = ("--budget", "4", "--dataset", "digits", "--epochs", "1", "--mutation-mode", "code", "-q")
QUICK_BACKOFF = {"FAIRNAD_LLM__BACKOFF_S": "0.05"}


def start_llm_run(run_dir: Path, base_url: str) -> list[str]:
    return ["run", "--run-dir", str(run_dir), "--llm", "scripted", "--llm-base-url", base_url, *RUN_FLAGS]


def exchanges(run_dir: Path, cid: str) -> list[dict]:
    folder = run_dir / "candidates" / cid / "llm"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def comparable(summary: dict) -> dict:
    """What a replay must reproduce: candidates, statuses, metrics and the front (times aside)."""
    rows = [{k: v for k, v in c.items() if k != "seconds"} for c in summary["candidates"]]
    return {"candidates": rows, "pareto": summary["pareto"], "best": summary["best"], "status": summary["status"]}


@pytest.fixture(scope="module")
def llm_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ScriptedLLMServer]:
    run_dir = tmp_path_factory.mktemp("llm") / "run"
    with ScriptedLLMServer(scenario()) as server:
        result = run_cli(*start_llm_run(run_dir, server.base_url), env=QUICK_BACKOFF, timeout=900)
        assert result.returncode == 0, result.stdout + result.stderr
    return run_dir, server


def test_scripted_llm_run_finishes_with_repairs_retries_and_tokens(llm_run):
    run_dir, _ = llm_run
    summary = read_summary(run_dir)
    assert summary["status"] == "finished" and summary["counted"] == 4
    rows = {c["id"]: c for c in summary["candidates"]}
    assert [rows[c]["status"] for c in ("0000", "0001", "0002", "0003")] == ["trained"] * 4
    assert rows["0000"]["mode"] == "builtin" and rows["0000"]["llm_calls"] == 0
    for cid in ("0001", "0002", "0003"):
        assert rows[cid]["mode"] == "code"
        assert isinstance(rows[cid]["tokens_in"], int) and rows[cid]["tokens_in"] > 0
        assert isinstance(rows[cid]["tokens_out"], int) and rows[cid]["tokens_out"] > 0
    llm = summary["llm"]
    mutation, lessons = llm["roles"]["mutation"], llm["roles"]["feedback"]
    assert mutation["tokens_in"] == sum(c["tokens_in"] for c in summary["candidates"])
    assert lessons["calls"] == 2  # after rounds 1 and 2; none after the last round
    assert llm["tokens_out"] == mutation["tokens_out"] + lessons["tokens_out"] and mutation["tokens_out"] > 0
    assert (run_dir / "lessons.md").read_text().startswith("# Lessons after round 2")
    assert llm["cost_usd"] == "not reported"  # no price for model 'scripted'

    steps = [e for e in read_trace(run_dir) if e["event"] == "role_step"]
    sent_back = {
        cid: [e["decided"] for e in steps if e.get("candidate") == cid and e["decided"].startswith("sent back")]
        for cid in ("0001", "0002", "0003")
    }
    assert sent_back["0001"] == ["sent back (execution retry 1/2): forward_error"]  # exactly one debug retry
    assert sent_back["0002"] == ["sent back (budget retry 1/4): over_param_budget"]
    assert sent_back["0003"] == ["sent back (execution retry 1/2): truncated"]

    # the busy server was retried inside one step: 429 (Retry-After honoured), 500, then the answer
    first = exchanges(run_dir, "0001")[0]
    assert first["attempts"] == 3 and [t["kind"] for t in first["tries"]] == ["rate_limit", "server"]
    assert first["tries"][0]["wait_s"] == pytest.approx(1.0)
    # the repair prompt showed the verifier's message and the broken source
    repair = exchanges(run_dir, "0001")[1]
    shown = json.dumps(repair["messages"])
    assert "mat1 and mat2" in shown and "x.flatten(1)" in shown
    assert (run_dir / "candidates/0001/model.py").read_text() == (SCENARIO / "small_se.py").read_text()
    # the over-budget file was downscaled by the agent, keeping its idea
    assert (run_dir / "candidates/0002/model.py").read_text() == (SCENARIO / "small_se_k5.py").read_text()
    assert "1.500M" in json.dumps(exchanges(run_dir, "0002")[1]["messages"])
    # the cut-short answer never reached the verifier
    verified = [e for e in steps if e.get("candidate") == "0003" and e["role"] == "verifier"]
    assert len(verified) == 1 and verified[0]["decided"] == "approved"

    mutation = json.loads((run_dir / "candidates/0002/mutation.json").read_text())
    assert mutation["mode"] == "code"
    trace = run_cli("trace", str(run_dir), "--candidate", "1", "--llm")
    assert trace.returncode == 0 and "mat1 and mat2" in trace.stdout and "[answer]" in trace.stdout


def test_replay_reproduces_the_recorded_run(llm_run, tmp_path):
    run_dir, _ = llm_run
    replay_dir = tmp_path / "replay"
    result = run_cli("run", "--run-dir", str(replay_dir), "--llm", f"replay:{run_dir}", "--replay-metrics", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    original, replayed = read_summary(run_dir), read_summary(replay_dir)
    assert comparable(replayed) == comparable(original)
    for row in original["candidates"]:
        cid = row["id"]
        assert (replay_dir / "candidates" / cid / "model.py").read_bytes() == (
            run_dir / "candidates" / cid / "model.py"
        ).read_bytes()
    assert all(e["replayed"] for cid in ("0001", "0002", "0003") for e in exchanges(replay_dir, cid))
    assert replayed["llm"]["replayed"] == replayed["llm"]["calls"] > 0 and original["llm"]["replayed"] == 0
    trains = [e for e in read_trace(replay_dir) if e["event"] == "tool_call" and e.get("phase") == "replayed"]
    assert len(trains) == 4  # every training result came from the recording


def test_killed_llm_run_resumes_without_repeating_finished_calls(tmp_path):
    run_dir = tmp_path / "run"
    with ScriptedLLMServer(scenario()) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fairnad", *start_llm_run(run_dir, server.base_url)],
            cwd=ROOT, env=cli_env(QUICK_BACKOFF), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:  # kill it while 0002 trains: 0001 and 0002 made their calls
                trace = read_trace(run_dir) if (run_dir / "trace.jsonl").is_file() else []
                if any(e.get("tool") == "train" and e.get("candidate") == "0002" for e in trace):
                    os.kill(proc.pid, signal.SIGKILL)
                    break
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.2)
            else:
                pytest.fail("the run did not reach the training of 0002 in time")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
        before = len(server.requests)
        kept = {cid: len(exchanges(run_dir, cid)) for cid in ("0001", "0002")}
        result = run_cli("resume", str(run_dir), "-q", env=QUICK_BACKOFF, timeout=900)
        assert result.returncode == 0, result.stdout + result.stderr
        after = [json.dumps(r["body"]["messages"]) for r in server.requests[before:]]
    summary = read_summary(run_dir)
    assert summary["status"] == "finished" and summary["counted"] == 4
    # after the resume: the probe, the lessons after round 2, then only 0003's two calls; 0001 and
    # 0002 kept their files, and the lessons after round 1 were not asked for again
    assert sum(PROBE not in text for text in after) == 3, after
    assert sum(LESSONS_PROMPT in text for text in after) == 1, after
    assert len(list((run_dir / "lessons/llm").glob("*.json"))) == 2
    assert {cid: len(exchanges(run_dir, cid)) for cid in ("0001", "0002")} == kept
