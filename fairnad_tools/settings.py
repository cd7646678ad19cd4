"""Settings sections owned by the tools: ``[train]``, ``[verify]`` and ``[data]``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from fairnad_tools.data import DATASETS, dataset_names

_COUNT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kKmMgG]?)\s*$")
_SCALE = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


def parse_count(value: object) -> object:
    """Accept integers and human counts such as ``"1.5M"``, ``"200M"`` or ``"0.2G"``."""
    if isinstance(value, str):
        match = _COUNT.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a count; write an integer or e.g. 1.5M, 200M, 0.2G")
        number, unit = match.groups()
        return int(round(float(number) * _SCALE[unit.lower()]))
    return value


Count = Annotated[int, BeforeValidator(parse_count), Field(gt=0)]

DatasetName = Literal[dataset_names()]  # the registry's names, one Literal
"""The registered dataset names (:mod:`fairnad_tools.data`) as a ``Literal``, so ``--dataset`` lists them."""
_DATASET_HELP = ", ".join(name if info.info.needs_data_dir else f"{name} (bundled)" for name, info in DATASETS.items())


class Section(BaseModel):
    """Base of every settings section: unknown keys are errors, numbers are finite."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class TrainSettings(Section):
    """How candidates are trained (NAS-Bench-201 protocol by default)."""

    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="auto: the GPU when one is available, else the CPU"
    )
    epochs: int | None = Field(
        default=None, ge=1, le=10_000, description="unset: the dataset's default (digits 8, CIFAR 200)"
    )
    batch_size: int | None = Field(
        default=None,
        ge=2,
        le=65_536,
        description="at least 2 (batch norm needs two images); unset: the dataset's default (digits 64, CIFAR 256)",
    )
    lr: float | None = Field(
        default=None, gt=0, le=10, description="peak learning rate, cosine decay to 0; unset: digits 0.05, CIFAR 0.1"
    )
    momentum: float = Field(default=0.9, ge=0, lt=1, description="SGD momentum (Nesterov)")
    weight_decay: float = Field(default=5e-4, ge=0, le=1)
    time_limit_s: float = Field(
        default=1800, gt=0, description="wall-clock limit per candidate; over it the candidate fails"
    )
    threads: int = Field(
        default=0,
        ge=0,
        description="CPU threads per training; 0: all cores. Runs sharing the cores: give each its share "
        "(oversubscribed torch threads train over 10x slower)",
    )


class VerifySettings(Section):
    """Budgets and limits of the code verifier (retry limits are in [roles.retries])."""

    max_params: Count = Field(default=1_500_000, description="parameter budget (1.5M, 1500000)")
    max_flops: Count | None = Field(
        default=None,
        description="multiply-accumulate budget per image; unset: 200M at 32x32, 50M at 16x16",
    )
    timeout_s: float = Field(default=20, gt=0, le=3600, description="wall time per verification")
    memory_mb: int = Field(default=2048, ge=0, description="memory a verification may allocate (MB); 0: no limit")
    min_layers: int = Field(default=3, ge=1, description="fewest weighted layers a model may have")
    llm_review: bool = Field(
        default=False,
        description="after the programmatic checks pass, ask the LLM whether the change realises the requested "
        "idea (needs an LLM; off by default)",
    )

    def flops_budget(self, input_shape: tuple[int, int, int]) -> int:
        """The FLOPs budget for an input shape: the setting, else the paper's per-resolution one."""
        if self.max_flops is not None:
            return self.max_flops
        return 200_000_000 if min(input_shape[1:]) >= 32 else 50_000_000


class DataSettings(Section):
    """Which dataset, and where it lives."""

    dataset: DatasetName = Field(default="digits", description=_DATASET_HELP)
    data_dir: Path | None = Field(default=None, description="folder holding cifar-10-batches-py/ or cifar-100-python/")
