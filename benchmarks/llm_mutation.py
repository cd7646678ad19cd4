"""How often the LLM's candidates survive the verifier's loop, per mutation mode (the paper's validity figure).

    python benchmarks/llm_mutation.py --base-url http://127.0.0.1:8077/v1 --model qwen --candidates 12 --json

For each mode (``--modes``, default ``code,diff,spec``) one ``fairnad run`` on digits with the
LLM behind the mutation agent: the seed, then one round of ``--candidates`` candidates in the
default mutation mix (fair idea, Pareto, iterative), ``--epochs`` of training (default 1:
training is not what is measured). Over the candidates the LLM made (the seed and space-only
budget repairs aside) it reports, per mode:

* ``valid_after_loop``: the fraction that passed the verifier within the repair loop
  (``roles.retries``) and were trained. The FairNAD paper reports 56 % of generated
  candidates passing its whole loop with Qwen3-8B;
* ``valid_first_try``: the fraction that passed at the first attempt (attempt 0; for an
  iterative candidate, the first attempt of each step);
* ``mean_repairs``: the mean number of repairs (gate rejections sent back, execution retries
  for unusable replies included) of the valid ones;
* ``tokens_per_valid``: LLM tokens (in plus out) of all made candidates / valid ones;
* ``seconds_per_valid``: seconds of the LLM calls and verifications of all made candidates /
  valid ones (from ``trace.jsonl``; training excluded).

``None`` where no candidate was valid. Progress goes to stderr; ``--json`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODES = ("code", "diff", "spec")


def measure(run_dir: Path) -> dict[str, Any]:
    """The validity figures of one finished run (see the module docstring)."""
    summary = json.loads((run_dir / "summary.json").read_text())
    events = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines() if line.strip()]
    made = [c for c in summary["candidates"] if c.get("llm_calls") and c["id"] != "0000"]
    valid = [c for c in made if c["status"] in ("trained", "failed")]
    ids = {c["id"] for c in made}
    repairs = {cid: 0 for cid in ids}
    first_try = dict.fromkeys(ids, True)
    seconds = 0.0
    for event in events:
        cid = event.get("candidate")
        if cid not in ids:
            continue
        timed = event["event"] == "llm_call" or (event["event"] == "role_step" and event["role"] != "mutation")
        if timed:  # an LLM call, or a gate's check (the mutation step's own seconds include its calls)
            seconds += float(event.get("seconds") or 0)
        if event["event"] == "role_step" and str(event.get("decided", "")).startswith(("sent back", "rejected")):
            repairs[cid] += 1
            first_try[cid] = False
    tokens = sum((c.get("tokens_in") or 0) + (c.get("tokens_out") or 0) for c in made)
    n_valid = len(valid)
    return {
        "candidates": len(made),
        "valid": n_valid,
        "valid_after_loop": round(n_valid / len(made), 3) if made else None,
        "valid_first_try": round(sum(first_try[c["id"]] for c in valid) / len(made), 3) if made else None,
        "mean_repairs": round(sum(repairs[c["id"]] for c in valid) / n_valid, 2) if n_valid else None,
        "tokens_per_valid": round(tokens / n_valid) if n_valid else None,
        "seconds_per_valid": round(seconds / n_valid, 1) if n_valid else None,
        "tokens": tokens,
        "status": summary["status"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8077/v1")
    parser.add_argument("--model", required=True, help="model name at the endpoint")
    parser.add_argument("--candidates", type=int, default=12, help="LLM candidates per mode (default 12)")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated modes (default code,diff,spec)")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs per candidate (default 1)")
    parser.add_argument("--work", type=Path, default=None, help="keep the runs in this folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        parser.error(f"--modes: unknown {bad}; valid: {', '.join(MODES)}")
    if args.candidates < 1:
        parser.error("--candidates must be at least 1")
    work = args.work or Path(tempfile.mkdtemp(prefix="fairnad-llm-mutation-"))
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"model": args.model, "base_url": args.base_url, "candidates": args.candidates,
                              "paper_valid_after_loop": 0.56, "modes": {}}  # fmt: skip
    for mode in modes:
        run_dir = work / mode
        print(f"{mode}: run in {run_dir} ...", file=sys.stderr)
        started = time.monotonic()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(
            [sys.executable, "-m", "fairnad", "run", "--run-dir", str(run_dir), "--dataset", "digits",
             "--budget", str(args.candidates + 1), "--epochs", str(args.epochs), "--llm", args.model,
             "--llm-base-url", args.base_url, "--mutation-mode", mode, "-q"],
            cwd=ROOT, env=env, capture_output=True, text=True,
        )  # fmt: skip
        wall = round(time.monotonic() - started, 1)
        if not (run_dir / "summary.json").is_file():
            print(f"{mode}: the run failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}", file=sys.stderr)
            result["modes"][mode] = {"error": proc.stderr[-500:], "exit_code": proc.returncode}
            continue
        figures = measure(run_dir)
        figures.update(exit_code=proc.returncode, run_seconds=wall)
        result["modes"][mode] = figures
        print(f"{mode}: {figures}", file=sys.stderr)
    valid = [f["valid_after_loop"] for f in result["modes"].values() if f.get("valid_after_loop") is not None]
    result["best_valid_after_loop"] = max(valid) if valid else None
    result["goal_met"] = bool(valid) and max(valid) >= 0.56
    result["work"] = str(work)
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
