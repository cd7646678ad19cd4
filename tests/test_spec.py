"""Architecture spec, renderer, and the built-in edits."""

from __future__ import annotations

import random

import pytest

from fairnad_tools.measure import count_macs, count_params
from fairnad_tools.spec import ArchSpec, render_model_source, resnet32
from fairnad_tools.transforms import (
    SUB_CATEGORY_EDITS,
    EditRefused,
    add_se,
    apply_first,
    downscale,
    set_activation,
    widen,
)
from fairnad_tools.verify.static import check_source


def build(spec: ArchSpec, num_classes: int = 10):
    namespace: dict = {}
    exec(compile(render_model_source(spec), "model.py", "exec"), namespace)  # trusted: our own renderer
    return namespace["build_model"](num_classes)


def test_resnet32_seed_matches_the_paper_within_two_percent():
    model = build(resnet32((3, 32, 32)))
    params = count_params(model)
    macs = count_macs(model, (3, 32, 32))
    assert abs(params - 0.46e6) / 0.46e6 < 0.02, params
    assert abs(macs - 69e6) / 69e6 < 0.02, macs
    stages = resnet32().stages
    assert [(s.depth, s.width) for s in stages] == [(5, 16), (5, 32), (5, 64)]


def test_rendered_source_is_standalone_and_passes_static_checks():
    spec = add_se(set_activation(resnet32(), random.Random(0), "gelu")[0], random.Random(1))[0]
    source = render_model_source(spec)
    assert check_source(source) is None
    imports = [line for line in source.splitlines() if line.startswith(("import", "from"))]
    assert imports == ["import torch", "from torch import nn"]
    assert "SqueezeExcite" in source and "nn.GELU()" in source
    assert "SqueezeExcite" not in render_model_source(resnet32())  # only what the model uses


def test_structure_hash_ignores_the_name_but_not_the_architecture():
    a = resnet32()
    assert a.structure_hash() == a.model_copy(update={"name": "other"}).structure_hash()
    assert a.structure_hash() != widen(a, random.Random(0))[0].structure_hash()


def test_spec_validation_names_the_field():
    with pytest.raises(ValueError, match="stride=2 shrinks"):
        ArchSpec.model_validate(
            {**resnet32((3, 4, 4)).model_dump(), "stages": [{"depth": 1, "width": 8, "stride": 2}] * 3}
        )


@pytest.mark.parametrize("slug", sorted(SUB_CATEGORY_EDITS))
def test_every_mapped_sub_category_edit_builds_on_digits_shape(slug):
    import torch

    rng = random.Random(3)
    spec = resnet32((3, 16, 16))
    try:
        new, how, _ = apply_first(SUB_CATEGORY_EDITS[slug], spec, rng)
    except EditRefused:  # e.g. kernel 3 or ReLU on the seed, which already has them
        stages = tuple(s.model_copy(update={"kernel_size": 5}) for s in spec.stages)
        spec = spec.model_copy(update={"stages": stages, "activation": "gelu"})
        new, how, _ = apply_first(SUB_CATEGORY_EDITS[slug], spec, rng)
    assert new.structure_hash() != spec.structure_hash(), how
    out = build(new)(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_downscale_shrinks_until_under_budget():
    rng = random.Random(0)
    spec = resnet32()
    for _ in range(4):
        spec = widen(spec, rng, 1.5)[0]
    before = count_params(build(spec))
    steps = 0
    while count_params(build(spec)) > 1_500_000 and steps < 20:
        spec = downscale(spec, rng)[0]
        steps += 1
    assert count_params(build(spec)) <= 1_500_000 < before or before <= 1_500_000
