"""A random walk of built-in mutations: how often they give valid, new, idea-carrying models.

    python benchmarks/mutation_walk.py --steps 500 --seed 0 --json

From the seed models (ResNet-32, MobileNetV2-like, ConvNeXt-like at 3x32x32), each step
takes a parent from everything valid so far, draws a sub-category of the attribute
template (all 55 in turn, shuffled), applies it with ``apply_idea``, downscales when
over 1.5 M parameters / 200 M multiply-accumulates, builds the model in-process (built-in
specs are trusted library code) and runs the verifier's own checks on it: forward,
output shape (for a batch of 2 and for one image), backward, finite values, budgets (MACs
counted as the verifier counts them, attention included, on its sample images), at least 3
weighted layers on the path.
Every 10th rendered ``model.py`` also goes through the full sandboxed verifier.

Printed: ``valid_fraction`` (valid / all attempts, refusals counted as attempts and
reported separately), ``distinct_structures`` (distinct categorical signatures),
``sub_categories_realised`` (the module a sub-category maps to appears in the built model),
``median_seconds_per_mutation``; and, as the baseline measured in the same run, the same
walk restricted to the spine's original vocabulary (activation, kernel size, SE, width,
depth on basic blocks), to show what the block library adds.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.progress import Progress as Bar  # noqa: E402

from fairnad_tools.arch.budget import downscale  # noqa: E402
from fairnad_tools.arch.realise import apply_idea, realisations, realised  # noqa: E402
from fairnad_tools.arch.seeds import SEEDS  # noqa: E402
from fairnad_tools.arch.transformation import EditRefused  # noqa: E402
from fairnad_tools.arch.wiring import build, render  # noqa: E402
from fairnad_tools.verify import verify_file  # noqa: E402
from fairnad_tools.verify.static import check_source  # noqa: E402
from fairnad_tools.verify.worker import Progress, exercise  # noqa: E402

BUDGET = (1_500_000, 200_000_000)
SHAPE = (3, 32, 32)
SPINE_VOCABULARY = (
    "operation.activation.gelu",
    "operation.activation.silu_swish",
    "operation.activation.hard_swish",
    "operation.activation.relu_family",
    "operation.spatial_mixing.standard_conv",
    "block.recalibration.squeeze_excitation",
    "network.width_scaling.stage_widths",
    "network.stage_layout.depth_distribution",
    "network.width_scaling.compound_scaling",
)


def walk(steps: int, seed: int, slugs: list[str], full_verify_every: int = 10, label: str = "walk") -> dict:
    rng = random.Random(seed)
    torch.manual_seed(seed)
    pool = [fn(SHAPE) for fn in SEEDS.values()]
    if slugs is SPINE_VOCABULARY:
        pool = pool[:1]
    order: list[str] = []
    valid = refused = invalid = full_checks = full_failures = 0
    signatures = {spec.signature() for spec in pool}
    realised_slugs: set[str] = set()
    seconds = []
    failures: list[str] = []
    # progress on stderr, so that --json leaves exactly one JSON value on stdout
    bar = Bar(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with tempfile.TemporaryDirectory() as tmp, bar:
        task = bar.add_task(label, total=steps)
        for step in range(steps):
            bar.advance(task)
            if not order:
                order = list(slugs)
                rng.shuffle(order)
            slug = order.pop()
            parent = rng.choice(pool)
            start = time.perf_counter()
            try:
                spec, _ = apply_idea(parent, slug, rng)
                spec, _ = downscale(spec, BUDGET)
            except EditRefused as exc:
                refused += 1
                failures.append(f"refused {slug}: {exc}")
                seconds.append(time.perf_counter() - start)
                continue
            model = build(spec)
            try:
                result = exercise(model, SHAPE, 10, Progress())
            except Exception as exc:  # noqa: BLE001 - counted as invalid, with the reason
                result = {"code": "error", "message": f"{type(exc).__name__}: {exc}"}
            ok = (
                result["code"] == "ok"
                and result["params"] <= BUDGET[0]
                and result["flops"] <= BUDGET[1]
                and result["weighted_layers"] >= 3
                and check_source(render(spec)) is None
            )
            seconds.append(time.perf_counter() - start)
            if not ok:
                invalid += 1
                failures.append(f"invalid {slug}: {result.get('message', result)}")
                continue
            valid += 1
            pool.append(spec)
            signatures.add(spec.signature())
            if realised(slug, model, spec, parent):
                realised_slugs.add(slug)
            if full_verify_every and step % full_verify_every == 0:
                path = Path(tmp) / f"step_{step}.py"
                path.write_text(render(spec))
                report = verify_file(path, input_shape=SHAPE, max_params=BUDGET[0], max_flops=BUDGET[1])
                full_checks += 1
                if not report.ok:
                    full_failures += 1
                    failures.append(
                        f"sandboxed verifier rejected step {step} ({slug}): {report.code}: {report.message}"
                    )
    return {
        "steps": steps,
        "valid": valid,
        "refused": refused,
        "invalid": invalid,
        "valid_fraction": round(valid / steps, 4),
        "distinct_structures": len(signatures) - len(SEEDS if slugs is not SPINE_VOCABULARY else [0]),
        "sub_categories_drawn": len(set(slugs)),
        "sub_categories_realised": len(realised_slugs),
        "not_realised": sorted(set(slugs) - realised_slugs),
        "median_seconds_per_mutation": round(statistics.median(seconds), 3),
        "sandboxed_verifications": full_checks,
        "sandboxed_rejections": full_failures,
        "failures": failures[:20],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-baseline", action="store_true", help="skip the spine-vocabulary baseline walk")
    args = parser.parse_args()
    impossible = {slug: e["impossible"] for slug, e in realisations().items() if "impossible" in e}
    result = walk(args.steps, args.seed, sorted(realisations()), label="block library")
    result["impossible"] = impossible
    result["targets_met"] = (
        result["valid_fraction"] >= 0.99
        and result["distinct_structures"] >= 300
        and result["sub_categories_realised"] == len(realisations()) - len(impossible)
    )
    if not args.no_baseline:
        base = walk(
            args.steps, args.seed, list(SPINE_VOCABULARY), full_verify_every=0, label="baseline (spine vocabulary)"
        )
        result["baseline_spine_vocabulary"] = {
            k: base[k] for k in ("valid_fraction", "distinct_structures", "sub_categories_realised")
        }
        result["distinct_structures_ratio_vs_baseline"] = round(
            result["distinct_structures"] / max(1, base["distinct_structures"]), 1
        )
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        if key != "failures":
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
