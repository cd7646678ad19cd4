"""The FairNAD round planner: which mutation kinds, which ideas, which parents.

* Fair idea sampling draws a sub-category of the attribute template first and an idea
  within it second, so popular topics with many ideas are not over-sampled; the
  feedback role's statistics re-weight both draws (ideas that keep failing fade,
  ideas that improve their parents come back more often).
* Pareto-aware mutation picks a parent by NSGA-II binary tournament over
  (accuracy up, parameters down, FLOPs down): small parents are scaled up, parents
  near the budget are tuned without changing depth or width.
* Iterative refinement starts from the best model with the idea that helped most.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graph.pareto import tournament
from graph.settings import MutationMix


@dataclass(frozen=True)
class PlannedCandidate:
    mutation_type: str
    parent: str
    idea: str | None = None
    sub_category: str | None = None


def mix_sequence(mix: MutationMix, n: int) -> list[str]:
    """``n`` mutation kinds in the mix's proportions, interleaved (smooth weighted round robin)."""
    weights = {"fair_idea": mix.fair_idea, "pareto": mix.pareto, "iterative": mix.iterative}
    weights = {k: w for k, w in weights.items() if w > 0}
    total = sum(weights.values())
    current = dict.fromkeys(weights, 0)
    sequence = []
    for _ in range(n):
        for kind, weight in weights.items():
            current[kind] += weight
        kind = max(current, key=lambda k: current[k])
        current[kind] -= total
        sequence.append(kind)
    return sequence


def score(entry: Mapping[str, Any] | None) -> float:
    """Sampling weight from feedback statistics: Laplace-smoothed improve rate x success rate.

    An idea never tried scores 0.25; one that improved 3 of 3 times 0.8; one that failed
    3 of 3 times 0.04.
    """
    if not entry:
        return 0.25
    tried, improved, failed = entry.get("tried", 0), entry.get("improved", 0), entry.get("failed", 0)
    return (improved + 1) / (tried + 2) * (tried - failed + 1) / (tried + 2)


def sample_idea(
    ideas: Mapping[str, str],
    stats: Mapping[str, Any],
    rng: random.Random,
    realisable: set[str] | None = None,
) -> tuple[str, str] | None:
    """Draw (idea id, sub-category): sub-category first (fair), idea second, both weighted."""
    by_sub: dict[str, list[str]] = {}
    for idea_id, sub in sorted(ideas.items()):
        if realisable is None or sub in realisable:
            by_sub.setdefault(sub, []).append(idea_id)
    if not by_sub:
        return None
    subs = sorted(by_sub)
    sub_stats = stats.get("sub_categories", {})
    sub = rng.choices(subs, weights=[score(sub_stats.get(s)) for s in subs])[0]
    idea_stats = stats.get("ideas", {})
    candidates = by_sub[sub]
    idea = rng.choices(candidates, weights=[score(idea_stats.get(i)) for i in candidates])[0]
    return idea, sub


def best_idea(ideas: Mapping[str, str], stats: Mapping[str, Any]) -> tuple[str, str] | None:
    """The idea with the largest mean accuracy gain among those that improved a parent."""
    scored = [
        (entry["delta_sum"] / max(1, entry["tried"]), idea_id)
        for idea_id, entry in stats.get("ideas", {}).items()
        if entry.get("improved", 0) > 0 and idea_id in ideas
    ]
    if not scored:
        return None
    _, idea_id = max(scored)
    return idea_id, ideas[idea_id]


def plan_round(
    *,
    n: int,
    trained: list[Mapping[str, Any]],
    ideas: Mapping[str, str],
    stats: Mapping[str, Any],
    mix: MutationMix,
    rng: random.Random,
    realisable: set[str] | None,
    max_params: int,
    max_flops: int,
    scale_up_below: float,
) -> list[PlannedCandidate]:
    """Plan ``n`` candidates from the trained ones (there must be at least one)."""
    if not trained:
        raise ValueError("no trained candidate to mutate")
    records = sorted(trained, key=lambda r: r["id"])
    best = max(records, key=lambda r: (r["val_acc"], -r["params"]))
    plan = []
    for kind in mix_sequence(mix, n):
        if kind == "pareto":
            parent = tournament(records, rng)
            small = parent["params"] < scale_up_below * max_params and parent["flops"] < scale_up_below * max_flops
            plan.append(PlannedCandidate("pareto_scale_up" if small else "pareto_tune", parent["id"]))
            continue
        if kind == "iterative":
            picked = best_idea(ideas, stats) or sample_idea(ideas, stats, rng, realisable)
            parent = best
        else:
            picked = sample_idea(ideas, stats, rng, realisable)
            parent = tournament(records, rng)
        if picked is None:  # no idea can be realised: fall back to a Pareto-aware edit
            plan.append(PlannedCandidate("pareto_tune", parent["id"]))
            continue
        plan.append(PlannedCandidate(kind, parent["id"], picked[0], picked[1]))
    return plan
