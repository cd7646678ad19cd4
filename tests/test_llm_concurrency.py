"""LLM calls of a round made at once (``llm.concurrency``): the same candidates, files and trace
as one at a time, whatever order the answers arrive in."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import read_summary, read_trace, run_cli
from tests.llm_server import Response, ScriptedLLMServer, answer

pytestmark = [pytest.mark.allow_hosts(["127.0.0.1"]), pytest.mark.timeout(600)]

SMALL = (Path(__file__).parent / "llm_scenario" / "small_se.py").read_text()
PROBE = "Reply with the word OK"


def scrambled(body: dict) -> Response:
    """A model sized by the prompt, answered after a delay that also depends on it (so answers of a
    round arrive in another order than they were asked)."""
    text = json.dumps(body["messages"])
    if PROBE in text:
        return answer("OK")
    digest = int(hashlib.sha256(text.encode()).hexdigest(), 16)
    width = 40 + 4 * (digest % 24)
    return answer(f"```python\n{SMALL.replace('64', str(width))}```", delay_s=(digest % 7) / 10)


def _run(tmp_path: Path, concurrency: int) -> Path:
    run_dir = tmp_path / f"c{concurrency}"
    env = {
        "FAIRNAD_LLM__CONCURRENCY": str(concurrency),
        "FAIRNAD_SEARCH__MUTATION_MIX__FAIR_IDEA": "4",
        "FAIRNAD_SEARCH__MUTATION_MIX__PARETO": "0",
        "FAIRNAD_SEARCH__MUTATION_MIX__ITERATIVE": "0",
    }
    with ScriptedLLMServer(scrambled) as server:
        result = run_cli("run", "--run-dir", str(run_dir), "--dataset", "digits", "--epochs", "1", "--budget", "5",
                         "--llm", "m", "--llm-base-url", server.base_url, "--mutation-mode", "code", "-q",
                         env=env, timeout=540)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return run_dir


def _story(run_dir: Path) -> list[tuple]:
    keep = {"role_step": ("role", "candidate", "decided"), "llm_call": ("candidate", "purpose", "file")}
    return [(e["event"], *(e.get(k) for k in keep[e["event"]])) for e in read_trace(run_dir) if e["event"] in keep]


def test_a_concurrent_round_gives_the_same_candidates_files_and_trace_as_one_at_a_time(tmp_path):
    one, four = _run(tmp_path, 1), _run(tmp_path, 4)
    models = {p.parent.name: p.read_text() for p in one.glob("candidates/*/model.py")}
    assert len(models) == 5
    assert models == {p.parent.name: p.read_text() for p in four.glob("candidates/*/model.py")}
    assert sorted(p.relative_to(one).as_posix() for p in one.glob("candidates/*/llm/*.json")) == sorted(
        p.relative_to(four).as_posix() for p in four.glob("candidates/*/llm/*.json")
    )
    assert _story(one) == _story(four)
    rows = lambda run: [(c["id"], c["status"], c["params"], c["llm_calls"]) for c in read_summary(run)["candidates"]]  # noqa: E731
    assert rows(one) == rows(four)
