"""Repair: validate an edited spec, changing only the fields the edit did not set.

A mixer the block kind cannot hold changes the kind, a stage that can no longer stride in its
first block gets a strided convolution, a downsampling the resolution cannot afford is
dropped; what cannot be repaired raises :class:`~fairnad_tools.arch.transformation.EditRefused`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from fairnad_tools.arch.spec import MIXERS_BY_KIND, STRIDING_KINDS, ArchSpec, BlockSpec, StageSpec
from fairnad_tools.arch.transformation import EditRefused

__all__ = ["repair_block", "repair_spec", "repair_stage"]

_KIND_FOR_MIXER = {
    "attention": ("metaformer", "transformer"),
    "pool": ("metaformer", "basic"),
    "large_kernel": ("convnext", "basic"),
}
_DEFAULT_MIXER = {"transformer": "attention", "metaformer": "pool", "convnext": "depthwise"}


def repair_block(data: dict[str, Any], fixed: set[str]) -> BlockSpec:
    """Validate block fields (``data``, a dumped :class:`BlockSpec`), changing only fields not in ``fixed``.

    Raises :class:`EditRefused` when the fields the edit set cannot be held together.
    """
    data = dict(data)
    for _ in range(8):
        try:
            return BlockSpec.model_validate(data)
        except ValidationError as exc:
            message = exc.errors()[0]["msg"]
        kind, mixer = data["kind"], data["mixer"]
        if data["branches"] != "single" and (kind not in STRIDING_KINDS or mixer != "conv"):
            if "branches" in fixed:
                data["mixer"] = "conv"
                if kind not in STRIDING_KINDS:
                    data["kind"] = "basic"
            else:
                data["branches"], data["fusion"] = "single", "add"
        elif data["shortcut"] == "projection" and kind not in STRIDING_KINDS:
            if "shortcut" in fixed and "kind" not in fixed:
                data.update(kind="basic", mixer=mixer if mixer in MIXERS_BY_KIND["basic"] else "conv")
            else:
                data["shortcut"] = "auto"
        elif data["fusion"] != "add" and data["branches"] != "multi_kernel":
            if "fusion" in fixed:
                data.update(branches="multi_kernel", mixer="conv")
            else:
                data["fusion"] = "add"
        elif mixer not in MIXERS_BY_KIND[kind]:
            if "mixer" in fixed and "kind" not in fixed:
                data["kind"] = _KIND_FOR_MIXER.get(mixer, ("basic",))[0]
            else:
                data["mixer"] = _DEFAULT_MIXER.get(kind, "conv")
        elif data["shuffle"] and mixer != "grouped" and data["branches"] != "split_transform_merge":
            if "shuffle" in fixed:
                data["mixer"] = "grouped"
            else:
                data["shuffle"] = False
        elif mixer == "large_kernel" and data["kernel_size"] < 7 or mixer == "conv" and data["kernel_size"] > 7:
            data["kernel_size"] = 7
        else:
            raise EditRefused(f"block fields {sorted(fixed)} cannot be realised: {message}")
    raise EditRefused(f"block fields {sorted(fixed)} cannot be realised")


def repair_stage(data: dict[str, Any]) -> StageSpec:
    """Validate a dumped :class:`StageSpec`: overrides past the depth are dropped, a first block
    that cannot stride gets a strided convolution; raises :class:`EditRefused` otherwise."""
    data = dict(data)
    data["overrides"] = [o for o in data.get("overrides", []) if o["index"] < data["depth"]]
    for _ in range(3):
        try:
            return StageSpec.model_validate(data)
        except ValidationError as exc:
            message = exc.errors()[0]["msg"]
            if data["downsample"] == "block":
                data["downsample"] = "strided_conv"
                continue
            raise EditRefused(f"stage cannot be realised: {message}") from None
    raise EditRefused("stage cannot be realised")


def repair_spec(data: dict[str, Any]) -> ArchSpec:
    """Validate a whole dumped spec; downsampling the resolution cannot afford is dropped (latest first).

    Raises :class:`EditRefused` for any other invalid spec.
    """
    data = dict(data)
    data["stages"] = [dict(s) for s in data["stages"]]
    for _ in range(len(data["stages"]) + 1):
        try:
            return ArchSpec.model_validate(data)
        except ValidationError as exc:
            message = exc.errors()[0]["msg"]
            downsampling = [s for s in data["stages"] if s["downsample"] != "none"]
            if "feature map is already" not in message or not downsampling:
                raise EditRefused(f"spec cannot be realised: {message}") from None
            downsampling[-1]["downsample"] = "none"
    raise EditRefused("spec cannot be realised")
