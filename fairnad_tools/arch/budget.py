"""Budgets: measure a spec, scale it, and fit it to the parameter and MAC budgets.

:func:`downscale` shrinks a spec under the budgets without touching any categorical choice
(the applied idea stays); :func:`scale_up` grows a small one a step within 90 % of them.
"""

from __future__ import annotations

import random

from fairnad_tools.arch.spec import ArchSpec, rebuild
from fairnad_tools.arch.target import round8, scale_stage, stage_with
from fairnad_tools.arch.transformation import Budget, EditRefused, Transformation

__all__ = ["downscale", "measure", "scale", "scale_up", "within"]


def measure(spec: ArchSpec) -> tuple[int, int]:
    """(parameters, multiply-accumulates per image) of ``spec``, built in-process (library code is trusted).

    One sample image suffices: no block of the library routes or exits early on its input, so
    every image costs the same (the verifier, whose count is the one a run keeps, takes the
    largest over several, for code that is not the library's).
    """
    from fairnad_tools.arch.wiring import build
    from fairnad_tools.measure import count_macs, count_params

    model = build(spec)
    return count_params(model), count_macs(model, spec.input_shape, images=1)


def within(spec: ArchSpec, budget: Budget) -> bool:
    """Whether ``spec`` measures at most ``budget`` (parameters, MACs per image)."""
    params, macs = measure(spec)
    return params <= budget[0] and macs <= budget[1]


def scale(
    spec: ArchSpec, rng: random.Random, *, grow: bool, what: str | None = None
) -> tuple[ArchSpec, Transformation]:
    """Scale the depth or the width (``what``; drawn when None) of one stage up (``grow``) or down.

    Raises :class:`EditRefused` past depth 1..24 or width 1024.
    """
    what = what or rng.choice(["depth", "width"])
    i = rng.randrange(len(spec.stages))
    stage = spec.stages[i]
    if what == "depth":
        new = stage.depth + (rng.choice([1, 2]) if grow else -1)
        if new < 1 or new > 24:
            raise EditRefused(f"stage {i} cannot go to depth {new}")
        return spec.with_stage(i, scale_stage(stage, depth=new)), Transformation(
            "scale", f"stage {i}", f"depth {stage.depth}->{new}"
        )
    new = round8(stage.width * (rng.choice([1.25, 1.5]) if grow else 0.75))
    if new == stage.width or new > 1024:
        raise EditRefused(f"stage {i} width {stage.width} cannot be scaled further")
    return spec.with_stage(i, scale_stage(stage, width=new)), Transformation(
        "scale", f"stage {i}", f"width {stage.width}->{new}"
    )


def _shrink_candidates(spec: ArchSpec) -> list[tuple[ArchSpec, str]]:
    out = []
    deepest = max(range(len(spec.stages)), key=lambda i: (spec.stages[i].depth, i))
    if spec.stages[deepest].depth > 1:
        s = spec.stages[deepest]
        out.append((spec.with_stage(deepest, scale_stage(s, depth=s.depth - 1)), f"stage {deepest} depth -1"))
    widths = tuple(scale_stage(s, width=round8(s.width * 0.85)) for s in spec.stages)
    if any(a.width != b.width for a, b in zip(widths, spec.stages, strict=True)):
        out.append((rebuild(spec, stages=widths), "widths x0.85"))
    widest = max(range(len(spec.stages)), key=lambda i: (spec.stages[i].width, i))
    s = spec.stages[widest]
    if round8(s.width * 0.75) < s.width:
        out.append(
            (spec.with_stage(widest, scale_stage(s, width=round8(s.width * 0.75))), f"stage {widest} width x0.75")
        )
    for i, stage in enumerate(spec.stages):
        b = stage.block
        if b.kind in ("inverted_residual", "convnext", "transformer", "metaformer") and b.hidden_ratio > 1.0:
            out.append(
                (
                    spec.with_stage(i, stage_with(stage, {"expansion": max(1.0, b.hidden_ratio / 2)}, None)),
                    f"stage {i} expansion /2",
                )
            )
    if spec.stem.kind == "conv" and spec.stem.stride == 1 and min(spec.input_shape[1:]) >= 32:
        out.append((rebuild(spec, stem={**spec.stem.model_dump(), "stride": 2}), "stem stride 2"))
    return out


def downscale(spec: ArchSpec, budget: Budget, *, max_steps: int = 40) -> tuple[ArchSpec, Transformation]:
    """Shrink ``spec`` under the budgets, keeping every categorical choice (the applied idea stays).

    ``budget`` is (parameters, MACs per image). Greedy: each step takes the shrink (depth of the deepest stage, all widths, the widest
    stage, an expansion ratio, the stem stride) that brings the larger budget ratio down most.
    """
    steps = []
    params, macs = measure(spec)
    for _ in range(max_steps):
        if params <= budget[0] and macs <= budget[1]:
            return spec, Transformation("downscale", "network", ", ".join(steps) or "already within budget")
        best = None
        for candidate, how in _shrink_candidates(spec):
            try:
                cp, cm = measure(candidate)
            except Exception:  # noqa: BLE001 - a shrink that does not build is simply not taken
                continue
            score = max(cp / budget[0], cm / budget[1])
            if best is None or score < best[0]:
                best = (score, candidate, how, cp, cm)
        if best is None or best[0] >= max(params / budget[0], macs / budget[1]):
            break
        _, spec, how, params, macs = best
        steps.append(how)
    raise EditRefused(
        f"cannot downscale under {budget[0]:,} parameters / {budget[1]:,} MACs (reached {params:,} / {macs:,})"
    )


def scale_up(
    spec: ArchSpec, budget: Budget, rng: random.Random, *, fraction: float = 0.9
) -> tuple[ArchSpec, Transformation]:
    """Grow a small model toward the budget: one deeper or wider step that stays within ``fraction`` of it.

    Raises :class:`EditRefused` when six draws find no such step.
    """
    limit = (int(budget[0] * fraction), int(budget[1] * fraction))
    attempts = []
    for _ in range(6):
        try:
            new, how = scale(spec, rng, grow=True)
        except EditRefused as exc:
            attempts.append(str(exc))
            continue
        if within(new, limit):
            return new, Transformation("scale_up", how.where, how.detail)
        attempts.append(f"{how} exceeds {fraction:.0%} of the budget")
    raise EditRefused("no growth step stays within the budget: " + "; ".join(attempts[-3:]))
