"""The built-in mutation role: every mutation kind gives a valid spec within budget."""

from __future__ import annotations

import pytest

from agents.base import RoleContext
from agents.mutation import BuiltinMutation, MutationFailed, MutationRequest
from fairnad_tools.arch import ArchSpec
from fairnad_tools.arch.budget import measure
from fairnad_tools.arch.seeds import resnet32
from graph.settings import FairNADSettings

ROLE = BuiltinMutation(RoleContext(settings=FairNADSettings()))
PARENT = resnet32((3, 16, 16)).model_dump(mode="json")
BUDGET = {"max_params": 1_500_000, "max_flops": 50_000_000}


def request(kind: str, **kw) -> MutationRequest:
    base = dict(candidate_id="0001", mutation_type=kind, parent_id="0000", parent_spec=PARENT, input_shape=(3, 16, 16))
    return MutationRequest(**{**base, **BUDGET, **kw})


@pytest.mark.parametrize(
    "kind,sub_category,prefix",
    [
        ("fair_idea", "operation.attention.windowed_attention", "idea("),
        ("fair_idea", "block.block_design.inverted_residual", "idea("),
        ("iterative", "block.recalibration.cbam", "idea("),
        ("pareto_scale_up", None, "scale_up("),
        ("pareto_tune", None, "hyperparameter("),
        ("random_edit", None, ""),
    ],
)
def test_each_mutation_kind(kind, sub_category, prefix):
    result = ROLE.mutate(request(kind, sub_category=sub_category, idea="some-idea" if sub_category else None))
    spec = ArchSpec.model_validate(result.spec)
    assert result.transformation.startswith(prefix)
    assert spec.structure_hash() == result.structure_hash != resnet32((3, 16, 16)).structure_hash()
    params, macs = measure(spec)
    assert params <= BUDGET["max_params"] and macs <= BUDGET["max_flops"]
    assert "def build_model(num_classes: int)" in result.source
    if kind == "iterative":
        assert " + " in result.transformation  # two refinement steps


def test_seed_and_seed_choice():
    result = ROLE.mutate(request("seed", parent_spec=None, parent_id=None, seed_model="mobilenetv2"))
    assert result.transformation.startswith("seed(mobilenetv2)")


def test_a_budget_rejection_is_answered_with_a_downscale():
    big = ArchSpec.model_validate(PARENT)
    for _ in range(3):
        big = ROLE.mutate(
            request("pareto_scale_up", parent_spec=big.model_dump(mode="json"), max_params=10**8, max_flops=10**10)
        ).spec
        big = ArchSpec.model_validate(big)
    feedback = [
        {
            "role": "verifier",
            "code": "over_param_budget",
            "kind": "budget",
            "message": "over",
            "transformation": "scale_up(...)",
        }
    ]
    result = ROLE.mutate(
        request(
            "pareto_scale_up",
            attempt=1,
            previous_spec=big.model_dump(mode="json"),
            feedback=feedback,
            max_params=300_000,
        )
    )
    assert "downscale(" in result.transformation
    assert measure(ArchSpec.model_validate(result.spec))[0] <= 300_000


def test_requests_that_cannot_be_met_fail_clearly():
    with pytest.raises(MutationFailed, match="needs an idea"):
        ROLE.mutate(request("fair_idea"))
    with pytest.raises(MutationFailed, match="no spec.json"):
        ROLE.mutate(request("pareto_tune", parent_spec=None))
    with pytest.raises(MutationFailed, match="cannot downscale"):
        ROLE.mutate(request("fair_idea", sub_category="block.recalibration.cbam", max_params=5_000))
