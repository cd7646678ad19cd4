"""Seconds per verification: fork server (FairNAD's default) against a fresh interpreter per check.

    python benchmarks/verify_speed.py [--baseline-sample 3] [--json]

Prints the median seconds per verification for ResNet-32-sized models (the seed and seven
one-idea variants at 3x32x32) and for the whole verifier corpus (tests/verifier_corpus, each file
with its own header settings, timeout cases included), then the same ResNet-sized median
for the baseline (a new Python process that imports torch for every check, measured in
the same run on a sample) and the ratio. Target: median <= 1.5 s per candidate on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fairnad_tools.arch import apply_idea, render  # noqa: E402
from fairnad_tools.arch.seeds import resnet32  # noqa: E402
from fairnad_tools.isolation import forkserver  # noqa: E402
from fairnad_tools.verify import verify_file  # noqa: E402
from tests.corpus import cases  # noqa: E402


def resnet_sized(folder: Path) -> list[Path]:
    """The ResNet-32 seed and seven one-idea variants of it (all about its size)."""
    rng = random.Random(0)
    seed = resnet32()
    ideas = (
        "network.width_scaling.stage_widths",
        "network.stage_layout.depth_distribution",
        "block.recalibration.squeeze_excitation",
        "operation.spatial_mixing.dilated_conv",
        "operation.activation.gelu",
        "block.block_design.bottleneck",
        "operation.normalization.group_norm",
    )
    specs = [seed] + [apply_idea(seed, idea, rng, scope="all")[0] for idea in ideas]
    paths = []
    for i, spec in enumerate(specs):
        path = folder / f"resnet_{i}.py"
        path.write_text(render(spec))
        paths.append(path)
    return paths


def timed(path: Path, **kw) -> tuple[float, str]:
    start = time.perf_counter()
    report = verify_file(path, **kw)
    return time.perf_counter() - start, report.code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--baseline-sample", type=int, default=3, help="ResNet-sized models timed without the fork server"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        models = resnet_sized(Path(tmp))
        start = time.perf_counter()
        forkserver.get_server()
        server_start = time.perf_counter() - start

        resnet_times = [timed(p)[0] for p in models]
        corpus = cases()
        corpus_times, wrong = [], []
        for case in corpus:
            seconds, code = timed(
                case.path,
                parent=case.parent,
                input_shape=case.input_shape,
                num_classes=case.num_classes,
                max_params=case.max_params,
                max_flops=case.max_flops,
                timeout_s=case.timeout_s,
            )
            corpus_times.append(seconds)
            if code != case.expect:
                wrong.append(case.name)

        forkserver.set_enabled(False)
        baseline_times = [timed(p)[0] for p in models[: args.baseline_sample]]
        forkserver.set_enabled(True)

    result = {
        "cpus": os.cpu_count(),
        "fork_server_start_s": round(server_start, 2),
        "resnet_models": len(models),
        "resnet_median_s": round(statistics.median(resnet_times), 3),
        "corpus_files": len(corpus),
        "corpus_median_s": round(statistics.median(corpus_times), 3),
        "corpus_total_s": round(sum(corpus_times), 1),
        "corpus_wrong_codes": wrong,
        "baseline_resnet_median_s": round(statistics.median(baseline_times), 3),
        "baseline_sample": len(baseline_times),
    }
    result["speedup_vs_fresh_interpreter"] = round(result["baseline_resnet_median_s"] / result["resnet_median_s"], 1)
    result["target_met"] = result["resnet_median_s"] <= 1.5 and result["corpus_median_s"] <= 1.5
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"fork server start (once per run):      {result['fork_server_start_s']:.2f} s")
    print(f"ResNet-32-sized, median of {len(models)}:           {result['resnet_median_s']:.3f} s per verification")
    print(
        f"corpus, median of {len(corpus)} files:          {result['corpus_median_s']:.3f} s per verification "
        f"(total {result['corpus_total_s']} s, {len(wrong)} unexpected codes)"
    )
    print(f"baseline, fresh interpreter, median of {len(baseline_times)}: {result['baseline_resnet_median_s']:.3f} s")
    print(f"ratio baseline / fork server (ResNet-sized): {result['speedup_vs_fresh_interpreter']}x")
    print(f"target median <= 1.5 s: {'met' if result['target_met'] else 'NOT met'}")


if __name__ == "__main__":
    main()
