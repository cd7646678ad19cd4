"""How much ``llm.concurrency`` shortens a round: the same round with 1 and with 4 LLM calls at once.

    python benchmarks/llm_concurrency.py [--candidates 8] [--delay 1.0] [--json]

Starts the scripted OpenAI-compatible server of the tests (``tests/llm_server.py``) on
127.0.0.1, answering every chat request after ``--delay`` seconds (a stand-in for a remote
API's latency) with a small valid model whose width and squeeze ratio depend on the prompt
(so candidates differ). Then runs, one after the other, the same search twice: ``fairnad run`` on digits in
``code`` mode with one round of ``--candidates`` fair-idea candidates after the seed
(``search.mutation_mix`` fair_idea = N, pareto = iterative = 0, ``search.min_rounds`` 1; 1 epoch), with ``llm.concurrency`` 1
and then 4.

The measured time is the round's mutation phase, read from each run's ``trace.jsonl``: from
the ``round_planned`` event of round 1 to the mutation role's last ``role_step`` before the
first gate step of that round (the part of a round that waits on the LLM; verification and
training do not change with the setting). Printed: both times, the ratio (concurrency 1 /
concurrency 4; goal at least 3), and a check that both runs made the same candidates
(same ``model.py`` per id). Progress goes to stderr; ``--json`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.llm_server import Response, ScriptedLLMServer, answer  # noqa: E402

PROBE = "Reply with the word OK"
SMALL = (ROOT / "tests" / "llm_scenario" / "small_se.py").read_text(encoding="utf-8")


def scripted(delay: float):
    """The server's answer: OK to the probe at once; else, after ``delay`` s, a model sized by the prompt."""

    def reply(body: dict[str, Any]) -> Response:
        text = json.dumps(body["messages"])
        if PROBE in text:
            return answer("OK")
        digest = int(hashlib.sha256(text.encode()).hexdigest(), 16)
        width, reduction = 40 + digest % 97, (2, 4, 8, 16)[(digest // 97) % 4]  # 388 distinct models
        source = SMALL.replace("64", str(width)).replace("reduction: int = 4", f"reduction: int = {reduction}")
        return answer(f"```python\n{source}```", delay_s=delay)

    return reply


def mutation_phase(run_dir: Path) -> float:
    """Seconds from round 1's ``round_planned`` to the mutation role's last step before round 1's first gate step."""
    events = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines() if line.strip()]
    start = next(e for e in events if e["event"] == "round_planned" and e.get("round") == 1)
    first = events.index(start)
    last = None
    for event in events[first:]:
        if event["event"] == "role_step" and event["role"] == "mutation":
            last = event
        elif event["event"] == "role_step" and last is not None:
            break
    if last is None:
        raise SystemExit(f"{run_dir}: no mutation step in round 1")
    stamp = datetime.fromisoformat
    return (stamp(last["ts"]) - stamp(start["ts"])).total_seconds()


def one_run(work: Path, concurrency: int, candidates: int, delay: float) -> tuple[float, dict[str, str]]:
    run_dir = work / f"concurrency-{concurrency}"
    with ScriptedLLMServer(scripted(delay)) as server:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "FAIRNAD_LLM__CONCURRENCY": str(concurrency),
            "FAIRNAD_SEARCH__MUTATION_MIX__FAIR_IDEA": str(candidates),
            "FAIRNAD_SEARCH__MUTATION_MIX__PARETO": "0",
            "FAIRNAD_SEARCH__MUTATION_MIX__ITERATIVE": "0",
            "FAIRNAD_SEARCH__MIN_ROUNDS": "1",  # the whole budget in one round
        }
        args = ["run", "--run-dir", str(run_dir), "--dataset", "digits", "--epochs", "1", "--budget",
                str(candidates + 1), "--llm", "bench", "--llm-base-url", server.base_url, "--mutation-mode", "code", "-q"]  # fmt: skip
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "fairnad", *args], cwd=ROOT, env=env, capture_output=True, text=True
        )
        print(f"concurrency {concurrency}: run finished in {time.monotonic() - started:.0f} s", file=sys.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"the run with concurrency {concurrency} failed:\n{proc.stderr[-3000:]}")
    models = {
        p.parent.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run_dir.glob("candidates/*/model.py"))
    }
    return mutation_phase(run_dir), models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=8, help="candidates in the measured round (default 8)")
    parser.add_argument("--delay", type=float, default=1.0, help="seconds the server waits per answer (default 1)")
    parser.add_argument("--work", type=Path, help="keep the runs in this folder (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fairnad-concurrency-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        serial, models_1 = one_run(work, 1, args.candidates, args.delay)
        parallel, models_4 = one_run(work, 4, args.candidates, args.delay)
    result = {
        "candidates": args.candidates,
        "delay_s": args.delay,
        "seconds_concurrency_1": round(serial, 3),
        "seconds_concurrency_4": round(parallel, 3),
        "ratio": round(serial / parallel, 2) if parallel > 0 else None,
        "same_candidates": models_1 == models_4,
        "goal": 3.0,
    }
    result["goal_met"] = result["ratio"] is not None and result["ratio"] >= 3.0 and result["same_candidates"]
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
