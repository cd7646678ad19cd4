"""A whole search with a real LLM behind the mutation agent, its replay, and the built-in baseline.

    python benchmarks/llm_run.py --model qwen --base-url http://127.0.0.1:8077/v1 --budget 4 --json

Runs, one after the other, in a scratch folder (``--work DIR`` keeps them):

1. ``fairnad run --llm MODEL --llm-base-url URL`` with the given budget on digits and the
   default settings (``--mode`` sets ``mutation.mode``; ``--epochs`` the training epochs);
2. ``fairnad run --llm replay:RUN --replay-metrics`` of that run, checking that every
   ``model.py`` is byte-identical and that ``summary.json`` holds the same candidates,
   statuses, metrics and front (training seconds aside);
3. the baseline measured in the same invocation: ``fairnad run --llm none`` (the built-in
   policy) with the same budget and epochs.

Printed: wall seconds of each, the ratio LLM / built-in, the LLM calls and tokens (in, out,
per LLM-made candidate; ``tokens_estimated`` when the server reported no usage), and how the
verifier judged the LLM's candidates: accepted at the first try, accepted after a repair
(an ``execution``, ``budget`` or ``structure`` retry, an answer cut short included), or never
(rejected). Progress goes to stderr; ``--json`` prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def fairnad(*args: str) -> tuple[int, float, str]:
    """Run the CLI; returns (exit code, wall seconds, stderr tail)."""
    start = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "fairnad", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    return proc.returncode, round(time.monotonic() - start, 1), proc.stderr[-2000:]


def verdicts(run_dir: Path) -> dict[str, int]:
    """How the verifier judged the candidates the LLM made (mode other than builtin)."""
    summary = json.loads((run_dir / "summary.json").read_text())
    counts = {"first_try": 0, "after_repair": 0, "never": 0}
    for row in summary["candidates"]:
        if not row.get("llm_calls"):  # made without the LLM (the seed, a spec budget repair)
            continue
        mutation = run_dir / "candidates" / row["id"] / "mutation.json"
        attempt = json.loads(mutation.read_text())["attempt"] if mutation.is_file() else None
        if row["status"] == "rejected":
            counts["never"] += 1
        elif attempt == 0:
            counts["first_try"] += 1
        else:
            counts["after_repair"] += 1
    return counts


def comparable(summary: dict[str, Any]) -> dict[str, Any]:
    rows = [{k: v for k, v in c.items() if k != "seconds"} for c in summary["candidates"]]
    return {"candidates": rows, "pareto": summary["pareto"], "best": summary["best"], "status": summary["status"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model name at the endpoint")
    parser.add_argument("--base-url", required=True, help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8077/v1")
    parser.add_argument("--budget", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the dataset's)")
    parser.add_argument("--mode", default=None, help="mutation.mode: auto, code, diff or spec (default: auto)")
    parser.add_argument("--work", type=Path, default=None, help="keep the runs in this folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="fairnad-llm-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    common = ["--budget", str(args.budget), "--dataset", "digits", "-q"]
    if args.epochs is not None:
        common += ["--epochs", str(args.epochs)]
    mode = ["--mutation-mode", args.mode] if args.mode else []
    llm_dir, replay_dir, base_dir = work / "llm", work / "replay", work / "builtin"

    print(f"LLM run in {llm_dir} ...", file=sys.stderr)
    rc, llm_s, tail = fairnad("run", "--run-dir", str(llm_dir), "--llm", args.model, "--llm-base-url", args.base_url,
                              *mode, *common)  # fmt: skip
    if not (llm_dir / "summary.json").is_file():
        print(f"the LLM run failed (exit {rc}):\n{tail}", file=sys.stderr)
        return 1
    print(f"replay in {replay_dir} ...", file=sys.stderr)
    replay_rc, replay_s, _ = fairnad("run", "--run-dir", str(replay_dir), "--llm", f"replay:{llm_dir}",
                                     "--replay-metrics", "-q")  # fmt: skip
    print(f"built-in baseline in {base_dir} ...", file=sys.stderr)
    base_rc, base_s, _ = fairnad("run", "--run-dir", str(base_dir), "--llm", "none", *common)

    summary = json.loads((llm_dir / "summary.json").read_text())
    replayed = json.loads((replay_dir / "summary.json").read_text()) if (replay_dir / "summary.json").is_file() else {}
    same_files = all(
        filecmp.cmp(llm_dir / "candidates" / c["id"] / "model.py", replay_dir / "candidates" / c["id"] / "model.py",
                    shallow=False)
        for c in summary["candidates"]
        if (llm_dir / "candidates" / c["id"] / "model.py").is_file()
    ) if replayed else False  # fmt: skip
    made = [c for c in summary["candidates"] if c.get("llm_calls")]
    llm = summary["llm"]
    result = {
        "model": args.model,
        "base_url": args.base_url,
        "budget": args.budget,
        "mode": args.mode or "auto",
        "status": summary["status"],
        "counted": summary["counted"],
        "exit_code": rc,
        "llm_run_seconds": llm_s,
        "builtin_run_seconds": base_s,
        "builtin_exit_code": base_rc,
        "ratio_llm_to_builtin": round(llm_s / base_s, 2) if base_s else None,
        "llm_calls": llm["calls"],
        "tokens_in": llm["tokens_in"],
        "tokens_out": llm["tokens_out"],
        "tokens_estimated": llm["tokens_estimated"],
        "tokens_in_per_llm_candidate": round(llm["tokens_in"] / len(made)) if made else None,
        "tokens_out_per_llm_candidate": round(llm["tokens_out"] / len(made)) if made else None,
        "modes": sorted({c.get("mode") or "builtin" for c in summary["candidates"]}),
        "verifier": verdicts(llm_dir),
        "replay_exit_code": replay_rc,
        "replay_seconds": replay_s,
        "replay_identical": bool(replayed) and same_files and comparable(replayed) == comparable(summary),
        "best_val_acc": max((c["val_acc"] or 0 for c in summary["candidates"]), default=None),
        "work": str(work),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>30}: {value}")
    return 0 if rc == 0 and result["replay_identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
