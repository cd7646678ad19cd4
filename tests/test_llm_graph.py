"""The graph around the LLM: start-up probe, flags that cannot act, budgets, failures, seeds, trace.

Runs talk to the scripted OpenAI-compatible server (``tests/llm_server.py``) on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from graph.store import llm_totals
from graph.trace import _clean
from tests.conftest import read_summary, read_trace, run_cli
from tests.llm_server import Response, ScriptedLLMServer, answer, error

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

SCENARIO = Path(__file__).parent / "llm_scenario"
PROBE = "Reply with the word OK"
CODE_RUN = ("--dataset", "digits", "--epochs", "1", "--mutation-mode", "code", "-q")


def widening_model(body: dict) -> Response:
    """A function script: the probe gets OK; each other request a model one step wider than the last."""
    text = json.dumps(body["messages"])
    if PROBE in text:
        return answer("OK")
    widening_model.width += 8  # type: ignore[attr-defined]
    source = (SCENARIO / "small_se.py").read_text().replace("64", str(widening_model.width))  # type: ignore[attr-defined]
    return answer(f"```python\n{source}```")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_endpoint_is_one_error_before_any_work(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    result = run_cli("run", "--run-dir", str(tmp_path / "r"), "--llm", "some-model", "--llm-base-url", url)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error:") and url in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_a_model_the_server_refuses_is_named_before_any_work(tmp_path):
    with ScriptedLLMServer(default=answer("OK"), models=["qwen"]) as server:
        result = run_cli("run", "--run-dir", str(tmp_path / "r"), "--llm", "gpt-5", "--llm-base-url", server.base_url)
    assert result.returncode == 2 and "gpt-5" in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--llm-base-url", "http://127.0.0.1:1/v1"], "--llm MODEL --llm-base-url URL"),
        (["--replay-metrics"], "--llm replay:RUN_DIR"),
        (["--llm", "replay:"], "needs the recorded run's folder"),
        (["--llm", "replay:/nonexistent/run"], "does not exist"),
        (["--mutation-mode", "code"], "no LLM is configured"),
        (["--seed-model", str(SCENARIO / "small_se.py")], "needs an LLM"),
        (["--seed-model", "/nonexistent/model.py"], "does not exist"),
        (["--seed-model", "resnet99"], "valid: resnet32"),
        (["--seed-model", str(SCENARIO)], "is a folder"),
        (
            [
                "--llm",
                "m",
                "--llm-base-url",
                "http://127.0.0.1:1/v1",
                "--seed-model",
                str(SCENARIO / "small_se.py"),
                "--mutation-mode",
                "spec",
            ],
            "cannot act on a model.py seed",
        ),
        (["--llm", "m", "--llm-base-url", "http://127.0.0.1:1/v1", "--mutation-mode", "poetry"], "mutation.mode"),
    ],
)
def test_llm_flags_that_cannot_act_are_refused(tmp_path, args, says):
    result = run_cli("run", "--run-dir", str(tmp_path / "r"), *args)
    assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "r").exists()


def test_a_per_role_llm_section_for_no_configured_role_is_refused(tmp_path):
    env = {"FAIRNAD_LLM__ROLES": '{"mutaton": {"model": "qwen-typo"}}'}
    result = run_cli("run", "--run-dir", str(tmp_path / "r"), "--llm", "m", "--llm-base-url",
                     "http://127.0.0.1:1/v1", env=env)  # fmt: skip
    assert result.returncode == 2 and "did you mean [llm.roles.mutation]?" in result.stderr, result.stderr
    assert not (tmp_path / "r").exists()


def test_trace_redaction_keeps_token_counts_and_hides_credentials():
    cleaned = _clean({"tokens_in": 3, "tokens_out": 4, "tokens_estimated": True, "tokens": 7, "access_token": "x"})
    assert cleaned == {"tokens_in": 3, "tokens_out": 4, "tokens_estimated": True, "tokens": 7, "access_token": "***"}


def test_llm_totals_never_report_an_unknown_price_as_zero():
    priced = {"mutation": {"calls": 2, "tokens_in": 10, "tokens_out": 5, "tokens_estimated": False, "cost_usd": 0.5}}
    assert llm_totals(priced)["cost_usd"] == 0.5
    unknown = {
        **priced,
        "critic": {"calls": 1, "tokens_in": 1, "tokens_out": 1, "tokens_estimated": True, "cost_usd": None},
    }
    totals = llm_totals(unknown)
    assert totals["cost_usd"] == "not reported" and totals["roles"]["critic"]["cost_usd"] == "not reported"
    assert totals["calls"] == 3 and totals["tokens_in"] == 11 and totals["tokens_estimated"] is True
    assert llm_totals({})["calls"] == 0  # no LLM: nothing spent


@pytest.mark.timeout(900)
def test_own_seed_model_then_an_llm_budget_stops_the_run_and_resume_raises_it(tmp_path):
    run_dir = tmp_path / "run"
    widening_model.width = 64  # type: ignore[attr-defined]
    seed = SCENARIO / "small_se.py"
    with ScriptedLLMServer(widening_model) as server:
        args = ["--llm", "scripted", "--llm-base-url", server.base_url, "--seed-model", str(seed)]
        first = run_cli("run", "--run-dir", str(run_dir), "--budget", "3", *args, *CODE_RUN,
                        env={"FAIRNAD_LLM__MAX_LLM_CALLS": "1"}, timeout=600)  # fmt: skip
        assert first.returncode == 1, first.stdout + first.stderr
        summary = read_summary(run_dir)
        assert summary["status"] == "stopped" and summary["counted"] == 2
        assert "llm.max_llm_calls" in summary["stop_reason"] and "--max-llm-calls" in summary["stop_reason"]
        assert (run_dir / "candidates/0000/model.py").read_text() == seed.read_text()  # your model, as given
        assert not (run_dir / "candidates/0000/spec.json").exists()
        rows = {c["id"]: c for c in summary["candidates"]}
        assert rows["0000"]["mode"] == "code" and rows["0001"]["mode"] == "code"
        assert summary["llm"]["calls"] == 1
        status = run_cli("status", str(run_dir))
        assert f"fairnad resume {run_dir} --max-llm-calls N" in status.stdout and "RUN_DIR" not in status.stdout
        assert "--budget N" not in status.stdout  # more budget would stop again at once: not offered

        same = run_cli("resume", str(run_dir), "--max-llm-calls", "1", "-q", timeout=600)
        assert same.returncode == 2 and "does not exceed" in same.stderr, same.stderr  # it would stop at once
        again = run_cli("resume", str(run_dir), "--max-llm-calls", "5", "-q", timeout=600)
        assert again.returncode == 0, again.stdout + again.stderr
    summary = read_summary(run_dir)
    assert summary["status"] == "finished" and summary["counted"] == 3
    assert summary["llm"]["calls"] == 2  # the call made before the stop was not repeated


def always_failing(body: dict) -> Response:
    return answer("OK") if PROBE in json.dumps(body["messages"]) else error(503, "overloaded")


@pytest.mark.timeout(900)
def test_an_llm_that_keeps_failing_stops_the_run_with_the_reason(tmp_path):
    run_dir = tmp_path / "run"
    env = {
        "FAIRNAD_LLM__MAX_RETRIES": "1",
        "FAIRNAD_LLM__BACKOFF_S": "0.01",
        "FAIRNAD_LLM__MAX_CONSECUTIVE_FAILURES": "2",
    }
    with ScriptedLLMServer(always_failing) as server:
        result = run_cli("run", "--run-dir", str(run_dir), "--budget", "4", "--llm", "scripted", "--llm-base-url",
                         server.base_url, *CODE_RUN, env=env, timeout=600)  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    summary = read_summary(run_dir)
    assert summary["status"] == "stopped" and "llm.max_consecutive_failures = 2" in summary["stop_reason"]
    rejected = [c for c in summary["candidates"] if c["status"] == "rejected"]
    assert len(rejected) == 2 and all("503" in c["reason"] for c in rejected)
    failures = [e for e in read_trace(run_dir) if e["event"] == "llm_failure"]
    assert [e["candidate"] for e in failures] == [c["id"] for c in rejected]
    kept = json.loads(sorted((run_dir / "candidates" / rejected[0]["id"] / "llm").glob("*.json"))[0].read_text())
    assert kept["error"] and kept["attempts"] == 2  # the failed step is kept, with its tries


def same_model(body: dict) -> Response:
    """Always the same file: after the first candidate, every answer repeats an architecture of the run."""
    if PROBE in json.dumps(body["messages"]):
        return answer("OK")
    return answer(f"```python\n{(SCENARIO / 'small_se_k5.py').read_text()}```")


@pytest.mark.timeout(900)
def test_an_llm_that_repeats_itself_is_told_and_asked_twice_more_not_eight_times(tmp_path):
    run_dir = tmp_path / "run"
    env = {"FAIRNAD_SEARCH__MAX_CONSECUTIVE_REJECTIONS": "1"}
    with ScriptedLLMServer(same_model) as server:
        result = run_cli("run", "--run-dir", str(run_dir), "--budget", "4", "--llm", "scripted", "--llm-base-url",
                         server.base_url, *CODE_RUN, env=env, timeout=600)  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    rows = {c["id"]: c for c in read_summary(run_dir)["candidates"]}
    assert rows["0001"]["status"] == "trained" and rows["0002"]["status"] == "rejected"
    assert "reproduced candidate 0001" in rows["0002"]["reason"]
    asked = [json.loads(p.read_text()) for p in sorted((run_dir / "candidates/0002/llm").glob("*.json"))]
    assert len(asked) == 3  # the first answer and two more tries, each told what it repeated
    assert "reproduced candidate 0001" not in json.dumps(asked[0]["messages"])
    assert all("reproduced candidate 0001" in json.dumps(a["messages"]) for a in asked[1:])
