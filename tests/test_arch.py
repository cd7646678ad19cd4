"""The built-in architecture space: spec, block library, renderer, seeds, transformations."""

from __future__ import annotations

import functools
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from fairnad_tools.arch import render
from fairnad_tools.arch import wiring as build_module
from fairnad_tools.arch.budget import downscale, measure, scale_up
from fairnad_tools.arch.edits import GENERIC
from fairnad_tools.arch.realise import apply_idea, realisations, realised
from fairnad_tools.arch.seeds import SEEDS, convnext, mobilenetv2, resnet32
from fairnad_tools.arch.spec import ArchSpec, BlockSpec, HeadSpec, StageSpec, StemSpec
from fairnad_tools.arch.transformation import EditRefused
from fairnad_tools.arch.wiring import build
from fairnad_tools.measure import count_macs, count_params
from fairnad_tools.verify import verify_file
from knowledge.template import load_template

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
SHAPES = [(3, 32, 32), (3, 16, 16)]
SLUGS = sorted(realisations())
BUDGET = (1_500_000, 200_000_000)


def exercise(spec: ArchSpec) -> torch.nn.Module:
    model = build(spec)
    out = model(torch.randn(2, *spec.input_shape))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    out.float().logsumexp(1).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    return model


def rendered_model(source: str, num_classes: int = 10) -> torch.nn.Module:
    namespace: dict = {}
    exec(compile(source, "model.py", "exec"), namespace)  # trusted: our renderer's output
    return namespace["build_model"](num_classes)


def test_rendered_resnet32_snapshot_and_size():
    source = render(resnet32())
    path = SNAPSHOTS / "resnet32_model.py"
    if os.environ.get("FAIRNAD_UPDATE_SNAPSHOTS") == "1":
        path.write_text(source)
    assert source == path.read_text(), "the rendered ResNet-32 changed; review and update the snapshot"
    assert len(source.splitlines()) <= 80
    model = rendered_model(source)
    assert abs(count_params(model) - 0.46e6) / 0.46e6 < 0.02
    assert abs(count_macs(model, (3, 32, 32)) - 69e6) / 69e6 < 0.02


@pytest.mark.parametrize("name", sorted(SEEDS))
@pytest.mark.parametrize("shape", SHAPES, ids=["32px", "16px"])
def test_seeds_fit_the_budget_on_both_resolutions(name, shape):
    spec = SEEDS[name](shape)
    params, macs = measure(spec)
    assert params <= BUDGET[0] and macs <= (BUDGET[1] if shape[1] == 32 else 50_000_000)
    assert all(h >= 1 and w >= 1 for h, w in spec.resolutions())
    exercise(spec)


def test_the_mapping_table_covers_the_whole_template():
    slugs = set(load_template().slugs)
    assert set(realisations()) == slugs
    for slug, entry in realisations().items():
        assert "impossible" in entry or ("evidence" in entry and ("set" in entry or "op" in entry)), slug


_REALISATION_CASES = [
    # the ResNet-32 cases also run the sandboxed verifier on every file: split three ways, so parallel
    # test workers share them (the union of the parts is every sub-category)
    *(("resnet32", (3, 32, 32), part, 3) for part in range(3)),
    *(("resnet32", (3, 16, 16), part, 3) for part in range(3)),
    ("mobilenetv2", (3, 32, 32), 0, 1),
    ("convnext", (3, 16, 16), 0, 1),
]


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    "name,shape,part,parts",
    _REALISATION_CASES,
    ids=[f"{n}-{s[1]}px" + (f"-part{p + 1}of{k}" if k > 1 else "") for n, s, p, k in _REALISATION_CASES],
)
def test_every_sub_category_realisation_builds_runs_renders_and_verifies(tmp_path, name, shape, part, parts):
    base = SEEDS[name](shape)
    budget = (BUDGET[0], BUDGET[1] if shape[1] == 32 else 50_000_000)
    failures = []
    for slug in SLUGS[part::parts]:
        spec, how = apply_idea(base, slug, random.Random(7))
        spec = downscale(spec, budget)[0]
        model = exercise(spec)
        if not realised(slug, model, spec, base):
            failures.append(f"{slug}: {how} left no evidence in the built model")
        if name == "resnet32":  # the sandboxed verifier on the rendered file, at both resolutions
            path = tmp_path / f"{slug}.py"
            path.write_text(render(spec))
            report = verify_file(path, input_shape=shape, max_params=budget[0], max_flops=budget[1])
            if not report.ok:
                failures.append(f"{slug}: verifier {report.code}: {report.message}")
    assert not failures, "\n".join(failures)


REGISTRIES = {
    "norm": ("block", "norm", build_module.NORMS),
    "activation": ("block", "activation", build_module.ACTIVATIONS),
    "recalibration": ("block", "recalibration", build_module.RECALIBRATIONS),
    "attention": ("attention", "attention", build_module.ATTENTIONS),
    "fusion": ("fusion", "fusion", build_module.FUSIONS),
    "block": ("kind", "kind", build_module.BLOCKS),
    "stem": ("stem", "kind", build_module.STEMS),
    "downsample": ("stage", "downsample", build_module.DOWNSAMPLES),
    "pooling": ("head", "pooling", build_module.POOLS),
}
REGISTRY_CASES = [(reg, key) for reg, (_, _, table) in REGISTRIES.items() for key in table]


def _spec_using(registry: str, key: str, shape: tuple[int, int, int]) -> ArchSpec:
    where, field, _ = REGISTRIES[registry]
    block = BlockSpec()
    stem, head, downsample = StemSpec(), HeadSpec(), "block"
    if where == "block":
        block = BlockSpec(**{field: key})
    elif where == "attention":
        block = BlockSpec(kind="metaformer", mixer="attention", attention=key)
    elif where == "fusion":
        block = BlockSpec(branches="multi_kernel", fusion=key)
    elif where == "kind":
        mixer = {"transformer": "attention", "metaformer": "pool", "convnext": "depthwise"}.get(key, "conv")
        block = BlockSpec(kind=key, mixer=mixer)
        downsample = "block" if key in ("basic", "bottleneck", "inverted_residual") else "strided_conv"
    elif where == "stem":
        stem = StemSpec(kind=key)
    elif where == "stage":
        downsample = key
    else:
        head = HeadSpec(pooling=key)
    if downsample == "block" and block.kind not in ("basic", "bottleneck", "inverted_residual"):
        downsample = "strided_conv"
    stages = (
        StageSpec(depth=2, width=16, block=block),
        StageSpec(depth=2, width=32, downsample=downsample, block=block),
    )
    return ArchSpec(input_shape=shape, stem=stem, stages=stages, head=head)


@pytest.mark.parametrize("registry,key", REGISTRY_CASES, ids=[f"{r}-{k}" for r, k in REGISTRY_CASES])
def test_every_registered_part_builds_on_both_shapes_and_verifies(tmp_path, registry, key):
    for shape in SHAPES:
        spec = _spec_using(registry, key, shape)
        exercise(spec)
        path = tmp_path / f"{registry}_{key}_{shape[1]}.py"
        path.write_text(render(spec))
        report = verify_file(path, input_shape=shape)
        assert report.ok, f"{registry}={key} at {shape}: {report.code}: {report.message}"


@functools.cache
def _walk_specs() -> tuple[ArchSpec, ...]:
    rng = random.Random(3)
    specs = [fn((3, 32, 32)) for fn in SEEDS.values()]
    for slug in SLUGS:
        specs.append(downscale(apply_idea(rng.choice(specs), slug, rng)[0], BUDGET)[0])
    return tuple(specs)


def test_spec_build_and_rendered_file_agree():
    for spec in _walk_specs():
        source = render(spec)
        torch.manual_seed(0)
        direct = build(spec).eval()
        torch.manual_seed(0)
        from_file = rendered_model(source).eval()
        assert count_params(direct) == count_params(from_file), spec.describe()
        x = torch.randn(2, *spec.input_shape)
        with torch.no_grad():
            assert torch.allclose(direct(x), from_file(x), atol=1e-6), spec.describe()


def test_rendered_sources_are_clean_under_ruff_and_import_only_torch(tmp_path):
    for i, spec in enumerate(_walk_specs()):
        source = render(spec)
        imports = {line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))}
        assert imports <= {"torch", "torch.nn.functional", "math", "functools"}, imports
        (tmp_path / f"model_{i}.py").write_text(source)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--isolated",
            "--select",
            "E,F,W,I,B,UP",
            "--line-length",
            "120",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendered_models_hold_only_the_classes_they_use():
    source = render(resnet32())
    for unused in ("SqueezeExcite", "GlobalAttention", "LayerNorm2d", "DropPath", "Tail", "import math"):
        assert unused not in source
    source = render(convnext())
    assert "class ConvNeXtBlock" in source and "class BasicBlock" not in source


@pytest.mark.parametrize(
    "spec_kwargs, field",
    [
        ({"kind": "transformer", "mixer": "conv"}, "mixer"),
        ({"kind": "basic", "mixer": "attention"}, "mixer"),
        ({"branches": "multi_kernel", "mixer": "depthwise"}, "branches"),
        ({"fusion": "gated"}, "fusion"),
        ({"shuffle": True}, "shuffle"),
        ({"mixer": "large_kernel", "kernel_size": 3}, "large_kernel"),
        ({"kind": "convnext", "mixer": "depthwise", "shortcut": "projection"}, "shortcut"),
    ],
)
def test_impossible_block_combinations_name_the_field(spec_kwargs, field):
    with pytest.raises(ValidationError) as err:
        BlockSpec(**spec_kwargs)
    assert field in str(err.value)


def test_impossible_stage_and_resolution_combinations_name_the_field():
    convnext_block = BlockSpec(kind="convnext", mixer="depthwise")
    with pytest.raises(ValidationError, match="downsample='block'"):
        StageSpec(depth=2, width=16, downsample="block", block=convnext_block)
    tiny = [StageSpec(depth=1, width=16, downsample="strided_conv")] * 4
    with pytest.raises(ValidationError, match=r"stages\[\d\].downsample='strided_conv': the feature map is already"):
        ArchSpec(input_shape=(3, 8, 8), stem=StemSpec(kind="patchify", patch=2), stages=tuple(tiny))


@pytest.mark.parametrize("kind", sorted(GENERIC))
def test_generic_transformations_give_valid_changed_specs(kind):
    for name, seed_fn in SEEDS.items():
        spec = seed_fn((3, 32, 32))
        rng = random.Random(1)
        for _ in range(3):
            try:
                new, how = GENERIC[kind](spec, rng)
            except EditRefused:
                continue
            assert new != spec, f"{name}: {how} changed nothing"
            assert str(how).startswith(f"{kind}(")
            exercise(new)
            spec = new


def test_downscale_keeps_the_idea_and_meets_the_budget():
    rng = random.Random(0)
    spec = resnet32()
    for _ in range(4):
        spec = apply_idea(spec, "network.width_scaling.stage_widths", rng)[0]
    spec = apply_idea(spec, "block.recalibration.cbam", rng, scope="all")[0]
    spec = apply_idea(spec, "network.width_scaling.compound_scaling", rng)[0]
    while measure(spec)[0] <= 2 * BUDGET[0]:
        spec = apply_idea(spec, "network.width_scaling.compound_scaling", rng)[0]
    small, how = downscale(spec, BUDGET)
    params, macs = measure(small)
    assert params <= BUDGET[0] and macs <= BUDGET[1], how
    assert small.signature() == spec.signature()  # every categorical choice (CBAM included) survives
    assert "CBAM" in render(small)


def test_scale_up_grows_toward_but_stays_within_the_budget():
    spec = resnet32()
    grown, how = scale_up(spec, BUDGET, random.Random(0))
    before, after = measure(spec), measure(grown)
    assert after[0] > before[0] or after[1] > before[1], how
    assert after[0] <= 0.9 * BUDGET[0] and after[1] <= 0.9 * BUDGET[1]


def test_idea_scopes_one_block_one_stage_all_stages():
    base = resnet32()
    one_block, how = apply_idea(base, "block.recalibration.squeeze_excitation", random.Random(0), scope="block")
    assert sum(len(s.overrides) for s in one_block.stages) == 1 and "block" in how.where
    one_stage, how = apply_idea(base, "block.recalibration.squeeze_excitation", random.Random(0), scope="stage")
    assert sum(s.block.recalibration == "se" for s in one_stage.stages) == 1
    everywhere, how = apply_idea(base, "block.recalibration.squeeze_excitation", random.Random(0), scope="all")
    assert all(s.block.recalibration == "se" for s in everywhere.stages)
    assert render(everywhere).count("class SqueezeExcite") == 1


def test_mobilenet_and_convnext_seeds_render_standalone():
    for spec in (mobilenetv2(), convnext()):
        model = rendered_model(render(spec))
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_an_unknown_sub_category_is_refused_with_the_closest_valid_ones():
    with pytest.raises(EditRefused, match=r"did you mean block\.fusion\.gated_fusion"):
        apply_idea(resnet32(), "block.feature_fusion.gated_fusion", random.Random(0))
