"""Round planning: mutation mix, fair idea sampling steered by feedback, Pareto selection."""

from __future__ import annotations

import random
from collections import Counter

from agents.base import RoleContext
from agents.feedback import BuiltinFeedback, Outcome
from agents.records import FeedbackStats, IdeaStats
from graph.pareto import pareto_front, rank_and_crowding
from graph.settings import FairNADSettings, MutationMix
from graph.strategies.fairnad import mix_sequence, plan_round, sample_idea

IDEAS = {
    "se-a": "block.recalibration.squeeze_excitation",
    "se-b": "block.recalibration.squeeze_excitation",
    "se-c": "block.recalibration.squeeze_excitation",
    "gelu-a": "operation.activation.gelu",
    "wide-a": "network.width_scaling.stage_widths",
}


def test_mix_sequence_follows_the_paper_default_proportions():
    seq = mix_sequence(MutationMix(), 20)
    assert Counter(seq) == {"fair_idea": 8, "pareto": 8, "iterative": 4}
    assert len(set(seq[:3])) == 3  # interleaved, not blocks
    assert Counter(mix_sequence(MutationMix(fair_idea=1, pareto=0, iterative=0), 5)) == {"fair_idea": 5}


def test_fair_sampling_is_balanced_over_sub_categories_not_ideas():
    rng = random.Random(0)
    draws = Counter(sample_idea(IDEAS, {}, rng)[1] for _ in range(3000))
    # three SE ideas but one sub-category: each sub-category gets about a third
    for count in draws.values():
        assert 800 < count < 1200, draws


def test_feedback_statistics_change_what_the_planner_picks():
    feedback = BuiltinFeedback(RoleContext(settings=FairNADSettings()))
    outcomes = [
        Outcome(
            candidate_id=f"{i}",
            idea="gelu-a",
            sub_category="operation.activation.gelu",
            mutation_type="fair_idea",
            status="rejected",
        )
        for i in range(4)
    ] + [
        Outcome(
            candidate_id=f"w{i}",
            idea="wide-a",
            sub_category="network.width_scaling.stage_widths",
            mutation_type="fair_idea",
            status="trained",
            val_acc=0.9,
            parent_val_acc=0.8,
        )
        for i in range(4)
    ]
    stats, notes = feedback.update(FeedbackStats(), outcomes)
    assert stats.ideas["gelu-a"] == IdeaStats(tried=4, improved=0, failed=4, vetoed=0, delta_sum=0.0)
    assert stats.ideas["wide-a"].improved == 4 and len(notes) == 8

    def picks(statistics):
        rng = random.Random(1)
        return Counter(sample_idea(IDEAS, statistics, rng)[0] for _ in range(3000))

    before, after = picks({}), picks(stats)
    assert after["gelu-a"] < before["gelu-a"] / 3
    assert after["wide-a"] > before["wide-a"] * 1.5
    trained = [{"id": "0000", "val_acc": 0.8, "params": 400_000, "flops": 10_000_000}]
    plan_kwargs = dict(
        n=4,
        trained=trained,
        ideas=IDEAS,
        mix=MutationMix(fair_idea=0, pareto=0, iterative=1),
        realisable=None,
        max_params=1_500_000,
        max_flops=50_000_000,
        scale_up_below=0.5,
    )
    plain = plan_round(stats={}, rng=random.Random(2), **plan_kwargs)
    steered = plan_round(stats=stats, rng=random.Random(2), **plan_kwargs)
    assert {p.idea for p in steered} == {"wide-a"}  # iterative exploits the idea that helped
    assert {p.idea for p in plain} != {"wide-a"} or len(plain) == 0


def test_pareto_scale_up_for_small_parents_and_tune_near_the_budget():
    trained = [
        {"id": "0000", "val_acc": 0.90, "params": 300_000, "flops": 10_000_000},
        {"id": "0001", "val_acc": 0.95, "params": 1_400_000, "flops": 45_000_000},
    ]
    plan = plan_round(
        n=40,
        trained=trained,
        ideas=IDEAS,
        stats={},
        mix=MutationMix(fair_idea=0, pareto=1, iterative=0),
        rng=random.Random(0),
        realisable=None,
        max_params=1_500_000,
        max_flops=50_000_000,
        scale_up_below=0.5,
    )
    kinds = {(p.parent, p.mutation_type) for p in plan}
    assert kinds == {("0000", "pareto_scale_up"), ("0001", "pareto_tune")}


def test_pareto_front_and_ranking():
    records = [
        {"id": "a", "val_acc": 0.9, "params": 100, "flops": 100},
        {"id": "b", "val_acc": 0.95, "params": 200, "flops": 200},
        {"id": "c", "val_acc": 0.85, "params": 300, "flops": 300},  # dominated by a
        {"id": "d", "val_acc": 0.80, "params": 50, "flops": 500},
    ]
    assert pareto_front(records) == ["b", "a", "d"]
    assert rank_and_crowding(records)[2][0] == 1
