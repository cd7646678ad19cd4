"""The verifier report contract (DESIGN.md section 3)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, Field, model_validator

ErrorCode = Literal[
    "ok",
    "syntax_error",
    "forbidden_import",
    "forbidden_call",
    "missing_entrypoint",
    "build_error",
    "forward_error",
    "bad_output_shape",
    "backward_error",
    "non_finite",
    "over_param_budget",
    "over_flops_budget",
    "not_modified",
    "too_shallow",
    "timeout",
    "out_of_memory",
]

BUDGET_CODES = frozenset({"over_param_budget", "over_flops_budget"})
STRUCTURE_CODES = frozenset({"not_modified", "too_shallow"})
EXECUTION_CODES = frozenset(get_args(ErrorCode)) - BUDGET_CODES - STRUCTURE_CODES - {"ok"}


def stored_weights_text(stored: dict[str, int]) -> str:
    """``params include 3,145,728 values outside parameters() that layers use as weights (proj)``."""
    names = ", ".join(list(stored)[:5]) + (f" and {len(stored) - 5} more" if len(stored) > 5 else "")
    return f"params include {sum(stored.values()):,} values outside parameters() that layers use as weights ({names})"


class VerifyReport(BaseModel):
    """Outcome of verifying one candidate file.

    ``ok``/``code``/``message``/``params``/``flops``/``seconds`` are the contract other
    tools read; the rest are extra measurements. ``params`` is the model size (every
    parameter, frozen included, shared ones once, plus the buffers and plain tensors that layers
    use as weights, named with their sizes in ``stored_weights``); ``flops`` the
    multiply-accumulates for one image, the sum of ``macs_by_operator``. The message of a passing
    report says how much of ``params`` lies outside ``parameters()`` and, when ``uncounted_ops``
    is not empty, which operators the MAC count leaves out.
    """

    ok: bool
    code: ErrorCode
    message: str
    params: int | None = Field(
        default=None,
        description="model size: parameters (frozen included, shared ones once) plus the buffers and plain "
        "tensors that layers use as weights",
    )
    flops: int | None = Field(default=None, description="multiply-accumulates for one image")
    seconds: float = 0.0
    weighted_layers: int | None = None
    signature: str | None = Field(default=None, description="hash of the layer structure")
    macs_by_operator: dict[str, int] | None = Field(
        default=None,
        description="multiply-accumulates per operator family (conv, linear, matmul, attention, distance, "
        "outer_product, other); "
        "they add up to flops",
    )
    uncounted_ops: list[str] = Field(
        default_factory=list,
        description="operators that ran and do real work outside the counting convention (counted as 0)",
    )
    weight_only_macs: int = Field(
        default=0,
        description="multiply-accumulates of products on the model's weights alone (a parametrization "
        "rebuilding its weight): once per forward pass whatever the batch size, so not in flops",
    )

    stored_weights: dict[str, int] = Field(
        default_factory=dict,
        description="buffers and plain tensor attributes used as layer weights (counted in params), by name",
    )

    @model_validator(mode="after")
    def _name_stored_weights(self) -> VerifyReport:
        if self.ok and self.stored_weights and "outside parameters()" not in self.message:
            self.message = f"{self.message}; {stored_weights_text(self.stored_weights)}"
        return self

    @model_validator(mode="after")
    def _name_uncounted(self) -> VerifyReport:
        if self.ok and self.uncounted_ops and "not counted" not in self.message:
            self.message = (
                f"{self.message}; warning: MACs of {', '.join(self.uncounted_ops)} not counted (outside the "
                "convention: convolutions, linear layers, matrix products, attention, distances), so flops is a lower bound"
            )
        return self

    @property
    def kind(self) -> Literal["ok", "execution", "budget", "structure"]:
        """Which repair the mutation role should attempt: debug, downscale or restructure."""
        if self.ok:
            return "ok"
        if self.code in BUDGET_CODES:
            return "budget"
        if self.code in STRUCTURE_CODES:
            return "structure"
        return "execution"
