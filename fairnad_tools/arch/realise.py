"""The realisation table: ``apply_idea`` realises a sub-category of the attribute template.

``realisations.yaml`` says, for each sub-category, where the edit applies (block, stage, stem,
head or the whole network), the fields it sets (or the network operation), and the evidence —
the module classes the built model must show (:func:`realised`).
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import yaml

from fairnad_tools.arch.repair import repair_spec, repair_stage
from fairnad_tools.arch.spec import MIXERS_BY_KIND, ArchSpec, rebuild
from fairnad_tools.arch.target import round8, scale_stage, set_block_fields, stage_with
from fairnad_tools.arch.transformation import EditRefused, Transformation

__all__ = ["NETWORK_OPS", "apply_idea", "realisable", "realisations", "realised"]


@cache
def realisations() -> dict[str, dict[str, Any]]:
    """``realisations.yaml``: sub-category slug -> how it is realised."""
    text = resources.files("fairnad_tools.arch").joinpath("realisations.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def realisable() -> set[str]:
    """The sub-category slugs the built-in space can realise (not marked ``impossible``)."""
    return {slug for slug, entry in realisations().items() if "impossible" not in entry}


def _op_depth_distribution(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
    n = len(spec.stages)
    if n == 1:
        stage = spec.stages[0]
        new_depth = stage.depth + rng.choice([-1, 1]) if stage.depth > 1 else stage.depth + 1
        return spec.with_stage(0, scale_stage(stage, depth=new_depth)), f"stage 0 depth {stage.depth}->{new_depth}"
    donors = [i for i in range(n) if spec.stages[i].depth > 1]
    src = rng.choice(donors) if donors else None
    dst = rng.choice([i for i in range(n) if i != src])
    stages = list(spec.stages)
    if src is not None:
        stages[src] = scale_stage(stages[src], depth=stages[src].depth - 1)
    stages[dst] = scale_stage(stages[dst], depth=stages[dst].depth + 1)
    detail = f"one block moved from stage {src} to stage {dst}" if src is not None else f"stage {dst} deepened"
    return rebuild(spec, stages=tuple(stages)), detail


def _op_stage_widths(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
    i = rng.randrange(len(spec.stages))
    old = spec.stages[i].width
    factor = rng.choice([0.75, 1.25, 1.5])
    new = round8(old * factor)
    if new == old:
        new = old + 8
    return spec.with_stage(i, scale_stage(spec.stages[i], width=new)), f"stage {i} width {old}->{new}"


_EXPANSIONS = {
    "bottleneck": (0.25, 0.5),
    "inverted_residual": (2.0, 3.0, 4.0, 6.0),
    "convnext": (2.0, 3.0, 4.0),
    "transformer": (1.0, 2.0, 4.0),
    "metaformer": (2.0, 3.0, 4.0),
}


def _op_expansion_ratio(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
    candidates = [i for i, s in enumerate(spec.stages) if s.block.kind in _EXPANSIONS]
    if not candidates:
        i = rng.randrange(len(spec.stages))
        stage = stage_with(spec.stages[i], {"kind": "inverted_residual", "mixer": "depthwise", "expansion": 3.0}, None)
        return repair_spec(spec.with_stage(i, stage).model_dump()), f"stage {i} inverted residual, expansion 3"
    i = rng.choice(candidates)
    block = spec.stages[i].block
    old = block.hidden_ratio
    new = rng.choice([e for e in _EXPANSIONS[block.kind] if e != old] or [old * 2])
    stage = stage_with(spec.stages[i], {"expansion": new}, None)
    return spec.with_stage(i, stage), f"stage {i} expansion {old:g}->{new:g}"


def _op_compound_scaling(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
    grow = rng.random() < 0.5
    stages = tuple(
        scale_stage(s, depth=s.depth + (1 if grow else -1), width=round8(s.width * (1.15 if grow else 0.87)))
        for s in spec.stages
    )
    return rebuild(spec, stages=stages), (
        "depth +1, width x1.15" if grow else "depth -1, width x0.87"
    ) + " in every stage"


def _op_hybrid(spec: ArchSpec, rng: random.Random) -> tuple[ArchSpec, str]:
    stages = list(spec.stages)
    conv_kinds = {kind for kind, mixers in MIXERS_BY_KIND.items() if "conv" in mixers}
    if stages[0].block.kind not in conv_kinds:
        stages[0] = stage_with(stages[0], {"kind": "basic", "mixer": "conv"}, None)
    attention = {
        "kind": "transformer",
        "mixer": "attention",
        "attention": rng.choice(["global", "windowed"]),
        "norm": "layer",
        "activation": "gelu",
    }
    last = len(stages) - 1
    if last == 0:
        stages[0] = stage_with(stages[0], attention, stages[0].depth - 1)
    else:
        stages[last] = stage_with(stages[last], attention, None)
    return repair_spec({**spec.model_dump(), "stages": [s.model_dump() for s in stages]}), "conv stages, then attention"


NETWORK_OPS: dict[str, Callable[[ArchSpec, random.Random], tuple[ArchSpec, str]]] = {  # the ``op`` of a network entry
    "depth_distribution": _op_depth_distribution,
    "stage_widths": _op_stage_widths,
    "expansion_ratio": _op_expansion_ratio,
    "compound_scaling": _op_compound_scaling,
    "hybrid": _op_hybrid,
}


def apply_idea(
    spec: ArchSpec, sub_category: str, rng: random.Random, *, scope: str | None = None
) -> tuple[ArchSpec, Transformation]:
    """Realise ``sub_category`` (a template slug) on ``spec``; ``scope`` for block edits: block, stage, all.

    Returns the new, validated spec and a ``Transformation("idea", ...)``. Raises
    :class:`EditRefused` for an unknown slug (naming the closest ones), one marked impossible,
    or an edit that cannot be repaired.
    """
    entry = realisations().get(sub_category)
    if entry is None:
        close = difflib.get_close_matches(sub_category, realisations(), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `fairnad_tools/arch/realisations.yaml` lists them"
        raise EditRefused(f"{sub_category!r} is not a sub-category of the attribute template{hint}")
    if "impossible" in entry:
        raise EditRefused(f"{sub_category} cannot be realised in the built-in space: {entry['impossible']}")
    target = entry["target"]
    fields = dict(entry.get("set", {}))
    if target == "block":
        new, where = set_block_fields(spec, fields, rng, prefer=entry.get("prefer"), scope=scope)
    elif target == "stage":
        new, where = _apply_stage(spec, fields, rng)
    elif target == "stem":
        new = repair_spec({**spec.model_dump(), "stem": {**spec.stem.model_dump(), **fields}})
        where = "stem"
    elif target == "head":
        new = repair_spec({**spec.model_dump(), "head": {**spec.head.model_dump(), **fields}})
        where = "head"
    else:
        new, where = NETWORK_OPS[entry["op"]](spec, rng)
        return new, Transformation("idea", "network", f"{sub_category}: {where}")
    detail = ", ".join(f"{k}={v}" for k, v in fields.items())
    return new, Transformation("idea", where, f"{sub_category}: {detail}")


def _apply_stage(spec: ArchSpec, fields: dict[str, Any], rng: random.Random) -> tuple[ArchSpec, str]:
    """Stage-level fields: ``downsample`` (a stage that downsamples) or block fields of a whole stage."""
    if "downsample" in fields:
        downsampling = [i for i, s in enumerate(spec.stages) if s.downsamples and s.downsample != fields["downsample"]]
        i = rng.choice(downsampling or [i for i in range(1, len(spec.stages))] or [0])
        stage = repair_stage({**spec.stages[i].model_dump(), **fields})
        return repair_spec(spec.with_stage(i, stage).model_dump()), f"stage {i}"
    return set_block_fields(spec, fields, rng, scope="stage")


def realised(sub_category: str, model: Any, spec: ArchSpec, parent: ArchSpec | None = None) -> bool:
    """Whether the built ``model`` shows the evidence ``realisations.yaml`` names for ``sub_category``."""
    entry = realisations()[sub_category]
    evidence = entry.get("evidence", [])
    if isinstance(evidence, dict):
        if parent is None:
            return False
        depths = [s.depth for s in spec.stages] != [s.depth for s in parent.stages]
        widths = [s.width for s in spec.stages] != [s.width for s in parent.stages]
        expansion = [s.block.hidden_ratio for s in spec.stages] != [s.block.hidden_ratio for s in parent.stages]
        return {"depths": depths, "widths": widths, "expansion": expansion, "depths_and_widths": depths and widths}[
            evidence["changed"]
        ]
    names = {type(m).__name__ for m in model.modules()}
    held = {f"{type(m).__name__}@{name.rsplit('.', 1)[-1]}" for name, m in model.named_modules() if name}

    def present(item: str) -> bool:
        return item in held if "@" in item else item in names

    return any(present(e) for e in evidence) and all(
        any(present(w) for w in group) for group in ([entry["with"]] if "with" in entry else [])
    )
