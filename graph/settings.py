"""The one settings object, composed from the sections each package owns.

Layers, highest first: CLI flags > ``FAIRNAD_*`` environment variables (nested with
``__``, e.g. ``FAIRNAD_TRAIN__EPOCHS=3``) > the TOML file (``--config FILE``, else
``FAIRNAD_CONFIG``, else ``./fairnad.toml`` when present) > defaults. Every layer is
validated on its own before the layers are merged, so a bad value in the file is an
error even when a flag overrides it.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from agents.settings import LLMSettings
from fairnad_tools.settings import DataSettings, Section, TrainSettings, VerifySettings
from knowledge.settings import KnowledgeSettings

ENV_PREFIX = "FAIRNAD_"
CONFIG_ENV = "FAIRNAD_CONFIG"
DEFAULT_CONFIG = Path("fairnad.toml")


class SettingsError(ValueError):
    """A bad setting: the message names the layer, the key and the valid values."""


class MutationMix(Section):
    """Candidates per round of each mutation kind (the paper's default: 8 + 8 + 4)."""

    fair_idea: int = Field(default=8, ge=0, le=1000, description="fair idea sampling")
    pareto: int = Field(default=8, ge=0, le=1000, description="Pareto-aware scale-up or tuning")
    iterative: int = Field(default=4, ge=0, le=1000, description="iterative refinement of the best")

    @model_validator(mode="after")
    def _not_empty(self) -> MutationMix:
        if self.fair_idea + self.pareto + self.iterative == 0:
            raise ValueError("at least one of fair_idea, pareto, iterative must be positive")
        return self

    @property
    def round_size(self) -> int:
        return self.fair_idea + self.pareto + self.iterative


class SearchSettings(Section):
    """The search: how many candidates, which strategy, how a round is composed."""

    budget: int = Field(default=12, ge=1, le=100_000, description="candidates that reach training")
    seed: int = Field(default=0, ge=0, description="seed of planning, mutation and training")
    strategy: Literal["fairnad"] = Field(default="fairnad", description="search strategy")
    seed_model: str = Field(
        default="resnet32", description="the first candidate: resnet32, mobilenetv2 or convnext (built-in seeds)"
    )
    mutation_mix: MutationMix = Field(default_factory=MutationMix)
    min_rounds: int = Field(
        default=4,
        ge=1,
        description="a round holds at most budget/min_rounds candidates, so parents come from an "
        "updated Pareto front (the paper's 500-candidate runs keep their 20-candidate rounds)",
    )
    scale_up_below: float = Field(
        default=0.5, gt=0, le=1, description="parents under this fraction of the budgets are scaled up"
    )
    max_consecutive_rejections: int = Field(
        default=25, ge=1, description="stop the run after this many candidates in a row never reach training"
    )


class RolesSettings(Section):
    """Which registered role plays each part; ``gates`` run in order between mutation and training."""

    extractor: str = "extractor"
    mutation: str = "mutation"
    feedback: str = "feedback"
    gates: list[str] = Field(
        default_factory=lambda: ["verifier"],
        min_length=1,
        description='gate roles in order, e.g. ["critic", "verifier"]',
    )


class FairNADSettings(BaseSettings):
    """All FairNAD settings. Sections: search, train, verify, data, llm, knowledge, roles."""

    model_config = SettingsConfigDict(extra="forbid", validate_assignment=True)

    search: SearchSettings = Field(default_factory=SearchSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    verify: VerifySettings = Field(default_factory=VerifySettings)
    data: DataSettings = Field(default_factory=DataSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    roles: RolesSettings = Field(default_factory=RolesSettings)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, *_: Any, **__: Any):  # type: ignore[no-untyped-def]
        # Layers are read and validated one by one in load_settings(); the model itself
        # only ever sees explicit data.
        return (init_settings,)


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = FairNADSettings
    for part in loc[:-1]:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return model


def _format_error(exc: ValidationError, layer: str) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "(root)"
        if err["type"] == "extra_forbidden":
            model = _model_at(loc)
            valid = list(model.model_fields) if model else []
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            section = ".".join(str(p) for p in loc[:-1])
            where = f"[{section}]" if section else "the top level (sections)"
            lines.append(f"unknown key '{key}' in {layer}{hint} Valid keys in {where}: {', '.join(valid)}")
        else:
            got = err.get("input")
            got_text = f" (got {got!r})" if not isinstance(got, dict) else ""
            lines.append(f"bad value for '{key}' in {layer}: {err['msg']}{got_text}")
    return "\n".join(lines)


def validate_layer(data: Mapping[str, Any], layer: str) -> FairNADSettings:
    """Validate one layer on its own; raise :class:`SettingsError` naming the layer."""
    try:
        return FairNADSettings(**dict(data))
    except ValidationError as exc:
        raise SettingsError(_format_error(exc, layer)) from None


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def config_file_path(config: Path | None, env: Mapping[str, str]) -> Path | None:
    """The config file to read: the flag, else ``FAIRNAD_CONFIG``, else ``./fairnad.toml`` if present."""
    if config is not None:
        return Path(config)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SettingsError(f"config file {path} does not exist; create one with 'fairnad config init {path}'")
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None


def env_layer(env: Mapping[str, str]) -> dict[str, Any]:
    """``FAIRNAD_*`` variables as nested settings; an unknown section is an error."""
    sections = set(FairNADSettings.model_fields)
    for name in env:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper == CONFIG_ENV:
            continue
        section = upper[len(ENV_PREFIX) :].split("__", 1)[0].lower()
        if section not in sections or "__" not in upper:
            close = difflib.get_close_matches(section, sorted(sections), n=1)
            hint = f"; did you mean FAIRNAD_{close[0].upper()}__...?" if close else ""
            raise SettingsError(
                f"unknown environment variable {name}{hint} Use FAIRNAD_<SECTION>__<KEY> with a "
                f"section among {', '.join(sorted(sections))} (or FAIRNAD_CONFIG for the config file)"
            )
    old = os.environ.copy()
    try:
        os.environ.clear()
        os.environ.update(env)
        source = EnvSettingsSource(
            FairNADSettings, env_prefix=ENV_PREFIX, env_nested_delimiter="__", case_sensitive=False
        )
        return source()
    finally:
        os.environ.clear()
        os.environ.update(old)


def load_settings(
    config: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> FairNADSettings:
    """Compose defaults, file, environment and CLI ``overrides`` (nested dicts), each validated."""
    env = os.environ if env is None else env
    merged: dict[str, Any] = {}
    path = config_file_path(config, env)
    if path is not None:
        file_data = read_config_file(path)
        validate_layer(file_data, f"config file {path}")
        merged = _deep_merge(merged, file_data)
    env_data = env_layer(env)
    if env_data:
        validate_layer(env_data, "environment variables (FAIRNAD_*)")
        merged = _deep_merge(merged, env_data)
    if overrides:
        validate_layer(overrides, "command-line options")
        merged = _deep_merge(merged, overrides)
    return validate_layer(merged, "the merged settings")


def settings_from_file(path: Path) -> FairNADSettings:
    """Settings saved in a run directory, alone (no environment, no flags)."""
    return validate_layer(read_config_file(path), f"saved settings {path}")


def to_toml_data(settings: FairNADSettings) -> dict[str, Any]:
    """Settings as TOML-ready data (unset values omitted, secrets left out)."""
    data = settings.model_dump(mode="json", exclude_none=True)
    data.get("llm", {}).pop("api_key", None)
    return data


def _toml_value(value: Any) -> str:
    import tomli_w

    return tomli_w.dumps({"v": value}).strip()[4:]


def example_toml() -> str:
    """An example config file generated from the settings model (never hand-kept)."""
    defaults = FairNADSettings()
    out = [
        "# FairNAD settings. Generated by 'fairnad config init' from the settings model.",
        "# Precedence: command-line flags > FAIRNAD_<SECTION>__<KEY> variables > this file > defaults.",
        "# Commented keys are unset by default; uncomment to set them.",
    ]

    def emit(model: BaseModel, prefix: str) -> None:
        scalars, nested = [], []
        for name, field in type(model).model_fields.items():
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                nested.append((name, value))
            else:
                scalars.append((name, field, value))
        if scalars:
            out.append("")
            out.append(f"[{prefix}]")
            doc = (type(model).__doc__ or "").strip().splitlines()
            if doc:
                out.insert(len(out) - 1, f"# {doc[0]}")
        for name, field, value in scalars:
            if field.description:
                out.append(f"# {field.description}")
            if value is None or (hasattr(value, "get_secret_value")):
                out.append(f"# {name} = ...")
            else:
                if isinstance(value, Path):
                    value = str(value)
                elif isinstance(value, list):
                    value = [str(v) if isinstance(v, Path) else v for v in value]
                out.append(f"{name} = {_toml_value(value)}")
        for name, value in nested:
            emit(value, f"{prefix}.{name}")

    for section in FairNADSettings.model_fields:
        emit(getattr(defaults, section), section)
    return "\n".join(out) + "\n"
