"""The ``fairnad`` strategy: the paper's round planner (which mutation kinds, ideas and parents).

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

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from agents.records import FeedbackStats, IdeaStats
from graph.pareto import tournament
from graph.settings import MutationMix
from graph.strategies import PlannedCandidate, RoundView, Strategy, register_strategy

Stats = FeedbackStats | Mapping[str, Any]


def as_stats(stats: Stats) -> FeedbackStats:
    """Feedback statistics as the typed record (JSON data from the run state is validated)."""
    return stats if isinstance(stats, FeedbackStats) else FeedbackStats.model_validate(dict(stats))


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


def score(entry: IdeaStats | None) -> float:
    """Sampling weight from feedback statistics: Laplace-smoothed improve rate x success rate.

    An idea never tried scores 0.25; one that improved 3 of 3 times 0.8; one that failed
    3 of 3 times 0.04. Vetoes do not count (a gate's judgement is not the idea's failure).
    """
    if entry is None:
        return 0.25
    tried, improved, failed = entry.tried, entry.improved, entry.failed
    return (improved + 1) / (tried + 2) * (tried - failed + 1) / (tried + 2)


def sample_idea(
    ideas: Mapping[str, str],
    stats: Stats,
    rng: random.Random,
    realisable: set[str] | None = None,
) -> tuple[str, str] | None:
    """Draw (idea id, sub-category): sub-category first (fair), idea second, both weighted."""
    stats = as_stats(stats)
    by_sub: dict[str, list[str]] = {}
    for idea_id, sub in sorted(ideas.items()):
        if realisable is None or sub in realisable:
            by_sub.setdefault(sub, []).append(idea_id)
    if not by_sub:
        return None
    subs = sorted(by_sub)
    sub_stats = stats.sub_categories
    sub = rng.choices(subs, weights=[score(sub_stats.get(s)) for s in subs])[0]
    idea_stats = stats.ideas
    candidates = by_sub[sub]
    idea = rng.choices(candidates, weights=[score(idea_stats.get(i)) for i in candidates])[0]
    return idea, sub


def best_idea(ideas: Mapping[str, str], stats: Stats) -> tuple[str, str] | None:
    """The idea with the largest mean accuracy gain among those that improved a parent."""
    scored = [
        (entry.delta_sum / max(1, entry.tried), idea_id)
        for idea_id, entry in as_stats(stats).ideas.items()
        if entry.improved > 0 and idea_id in ideas
    ]
    if not scored:
        return None
    _, idea_id = max(scored)
    return idea_id, ideas[idea_id]


def plan_round(
    *,
    n: int,
    trained: Sequence[Mapping[str, Any]],
    ideas: Mapping[str, str],
    stats: Stats,
    mix: MutationMix,
    rng: random.Random,
    realisable: set[str] | None,
    max_params: int,
    max_flops: int,
    scale_up_below: float,
) -> list[PlannedCandidate]:
    """Plan ``n`` candidates from the trained ones (there must be at least one)."""
    stats = as_stats(stats)
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


@register_strategy("fairnad")
class FairNADStrategy(Strategy):
    """FairNAD: fair idea sampling, Pareto-aware mutation and iterative refinement in the
    ``[search.mutation_mix]`` proportions (the paper's default 8 + 8 + 4 per round)."""

    summary = "fair idea sampling + Pareto-aware scale-up/tune + iterative refinement (the FairNAD paper)"
    mutation_types = frozenset({"fair_idea", "pareto_scale_up", "pareto_tune", "iterative"})

    def round_size(self, budget: int, counted: int) -> int:
        """The mix total, at most ``budget / search.min_rounds`` (parents come from an updated
        front), at most what the budget has left."""
        per_round = min(self.settings.mutation_mix.round_size, max(1, math.ceil(budget / self.settings.min_rounds)))
        return max(1, min(per_round, budget - counted))

    def plan(self, view: RoundView) -> list[PlannedCandidate]:
        """:func:`plan_round` over the view with the ``[search]`` mix and scale-up threshold."""
        return plan_round(
            n=view.n,
            trained=view.trained,
            ideas=view.ideas,
            stats=view.stats,
            mix=self.settings.mutation_mix,
            rng=view.rng,
            realisable=view.realisable,
            max_params=view.max_params,
            max_flops=view.max_flops,
            scale_up_below=self.settings.scale_up_below,
        )
