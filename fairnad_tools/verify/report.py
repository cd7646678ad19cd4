"""The verifier report contract (DESIGN.md section 3)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, Field

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


class VerifyReport(BaseModel):
    """Outcome of verifying one candidate file.

    ``ok``/``code``/``message``/``params``/``flops``/``seconds`` are the contract other
    tools read; ``weighted_layers`` and ``signature`` are extra measurements.
    """

    ok: bool
    code: ErrorCode
    message: str
    params: int | None = None
    flops: int | None = Field(default=None, description="multiply-accumulates for one image")
    seconds: float = 0.0
    weighted_layers: int | None = None
    signature: str | None = Field(default=None, description="hash of the layer structure")

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
