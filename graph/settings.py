"""The one settings object, composed from the sections each package owns.

Layers, highest first: CLI flags > ``FAIRNAD_*`` environment variables (nested with
``__``, e.g. ``FAIRNAD_TRAIN__EPOCHS=3``) > the TOML file (``--config FILE``, else
``FAIRNAD_CONFIG``, else ``./fairnad.toml`` when present) > defaults. Every layer is
validated on its own before the layers are merged, so a bad value in the file is an
error even when a flag overrides it.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
import warnings
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast, get_args

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

from agents.settings import LLMSettings, MutationSettings, api_key_from_env
from fairnad_tools.settings import DataSettings, Section, TrainSettings, VerifySettings
from knowledge.settings import KnowledgeSettings

ENV_PREFIX = "FAIRNAD_"
CONFIG_ENV = "FAIRNAD_CONFIG"
DEFAULT_CONFIG = Path("fairnad.toml")
ENV_NONE = "null"  # FAIRNAD_TRAIN__EPOCHS=null unsets an optional key
# FAIRNAD_ variables that are not settings keys (each is read where it acts); the settings layer skips them.
OTHER_VARIABLES = {
    CONFIG_ENV: "the config file to read",
    "FAIRNAD_FORKSERVER": "0 turns the verifier's and trainer's fork server off",
    "FAIRNAD_UPDATE_SNAPSHOTS": "1 rewrites the test suite's snapshots",
}


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
    strategy: str = Field(
        default="fairnad",
        description="search strategy by registered name (graph/strategies/; 'fairnad roles' lists them)",
    )
    space: str = Field(
        default="open",
        description="search space by registered name (fairnad_tools/spaces/; 'fairnad roles' lists them)",
    )
    seed_model: str = Field(
        default="resnet32",
        description="the first candidate: a built-in seed of the space (resnet32, mobilenetv2, convnext), a "
        "spec.json of the space, or your own model.py (mutated as code: needs an LLM)",
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


class RetryLimits(Section):
    """How often a candidate a gate rejected goes back to the mutation role, per kind of rejection."""

    execution: int = Field(default=2, ge=0, le=20, description="repairs after execution errors")
    budget: int = Field(default=4, ge=0, le=20, description="downscales when over budget")
    structure: int = Field(default=1, ge=0, le=20, description="retries after structure errors")
    review: int = Field(default=1, ge=0, le=20, description="different edits after a gate's veto")

    def limit(self, kind: str) -> int:
        """The limit for a review's ``kind`` (``agents.records.RepairKind``); unknown kinds get ``review``'s."""
        return {"execution": self.execution, "budget": self.budget, "structure": self.structure}.get(kind, self.review)


DEPRECATED_RETRY_KEYS = {
    "debug_retries": "execution",
    "downscale_retries": "budget",
    "structure_retries": "structure",
    "review_retries": "review",
}
"""Old ``[verify]`` keys still read (with a deprecation message) -> their ``[roles.retries]`` key."""


class RolesSettings(Section):
    """Which registered role plays each part; the gates run in order between mutation and training."""

    extractor: str = "extractor"
    mutation: str = "mutation"
    feedback: str = "feedback"
    gates: list[str] = Field(
        default_factory=lambda: ["verifier"],
        min_length=1,
        description='gate roles in order, e.g. ["critic", "verifier"]',
    )
    max_consecutive_errors: int = Field(
        default=5, ge=1, description="stop the run after this many candidates in a row hit an unexpected role error"
    )
    retries: RetryLimits = Field(default_factory=RetryLimits)


class FairNADSettings(BaseSettings):
    """All FairNAD settings. Sections: search, train, verify, data, llm, mutation, knowledge, roles."""

    # Section names match exactly, as TOML keys do (pydantic-settings would fold their case, so
    # [LLM] would slip past the file's checks and [train] + [TRAIN] would silently drop one);
    # environment variable names stay case-insensitive (env_layer reads them on its own).
    model_config = SettingsConfigDict(extra="forbid", validate_assignment=True, case_sensitive=True)

    search: SearchSettings = Field(default_factory=SearchSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    verify: VerifySettings = Field(default_factory=VerifySettings)
    data: DataSettings = Field(default_factory=DataSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    mutation: MutationSettings = Field(default_factory=MutationSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    roles: RolesSettings = Field(default_factory=RolesSettings)

    @model_validator(mode="before")
    @classmethod
    def _moved_retry_keys(cls, data: Any) -> Any:
        """Read the retry limits' old home, ``[verify] debug_retries`` etc., into ``[roles.retries]``.

        A key also set in its new home keeps the new value. Warns (``FutureWarning``) once per key.
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("verify"), Mapping):
            return data
        old = {k: v for k, v in data["verify"].items() if k in DEPRECATED_RETRY_KEYS}
        if not old:
            return data
        data = dict(data)
        data["verify"] = {k: v for k, v in data["verify"].items() if k not in DEPRECATED_RETRY_KEYS}
        roles = dict(data.get("roles") or {}) if isinstance(data.get("roles", {}), Mapping) else data["roles"]
        if isinstance(roles, dict):
            retries = roles.get("retries") or {}
            if isinstance(retries, Mapping):
                retries = dict(retries)
                for key, value in old.items():
                    retries.setdefault(DEPRECATED_RETRY_KEYS[key], value)
                roles["retries"] = retries
            data["roles"] = roles
        for key in old:
            warnings.warn(
                f"'verify.{key}' is deprecated: write 'roles.retries.{DEPRECATED_RETRY_KEYS[key]}' "
                f"([roles.retries] {DEPRECATED_RETRY_KEYS[key]} = ..., or FAIRNAD_ROLES__RETRIES__"
                f"{DEPRECATED_RETRY_KEYS[key].upper()})",
                FutureWarning,
                stacklevel=2,
            )
        return data

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, *_: Any, **__: Any):
        # Layers are read (the environment by pydantic-settings' own source, see env_layer) and
        # validated one by one in load_settings(); the model itself only ever sees explicit data.
        return (init_settings,)


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = FairNADSettings
    for part in loc[:-1]:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return model


@dataclass(frozen=True)
class Layer:
    """One settings layer as messages name it.

    ``description`` names the layer ("config file x.toml"); ``sources`` maps a key's
    location (e.g. ``("search", "budget")``) to what set it in this layer (an
    environment variable, a flag); ``spell`` writes a location the way this layer's
    user writes it, for "did you mean" hints (``FAIRNAD_SEARCH__BUDGET``, ``search.budget``).
    """

    description: str
    sources: Mapping[tuple[str, ...], str] = field(default_factory=dict)
    spell: Callable[[tuple[str, ...]], str] | None = None

    def source_of(self, loc: tuple[Any, ...]) -> str | None:
        """What set the value at ``loc``: the longest known prefix, else a longer key below it."""
        parts = tuple(str(p) for p in loc)
        for end in range(len(parts), 0, -1):
            if parts[:end] in self.sources:
                return self.sources[parts[:end]]
        below = [name for key, name in self.sources.items() if key[: len(parts)] == parts]
        return ", ".join(sorted(below)) if below else None

    def where(self, loc: tuple[Any, ...]) -> str:
        """The layer and, when known, what set ``loc``: "environment variable FAIRNAD_SEARCH__BUDGET"."""
        source = self.source_of(loc)
        return f"{self.description} {source}" if source else self.description


def _closest_key(loc: tuple[Any, ...], model: type[BaseModel] | None) -> tuple[str, ...] | None:
    """The valid location nearest an unknown key: a close spelling, or a nested key written with ``_``."""
    if model is None:
        return None
    parent, unknown = tuple(str(p) for p in loc[:-1]), str(loc[-1]).lower()  # names are lowercase
    for name, info in model.model_fields.items():  # mutation_mix_fair_idea -> mutation_mix, fair_idea
        inner = info.annotation
        if unknown.startswith(f"{name}_") and isinstance(inner, type) and issubclass(inner, BaseModel):
            rest = unknown[len(name) + 1 :]
            close = difflib.get_close_matches(rest, list(inner.model_fields), n=1)
            if close:
                return (*parent, name, close[0])
    close = difflib.get_close_matches(unknown, list(model.model_fields), n=1)
    return (*parent, close[0]) if close else None


def _fields_of(section: str) -> Collection[str]:
    model = _model_at((section, None))
    return model.model_fields if model is not None else ()


def _spell(loc: tuple[str, ...], depth: int, layer: Layer) -> str:
    """A valid location as the layer's user writes it: a variable, a section ``[search.mutation_mix]``
    or a key ``'epochs'`` (from the depth of the unknown one, so a nested fix keeps its path)."""
    if layer.spell is not None:
        return layer.spell(loc)
    if _model_at((*loc, None)) is not None:
        return f"[{'.'.join(loc)}]"
    return repr(".".join(loc[depth - 1 :]))


def _format_error(exc: ValidationError, layer: Layer) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "(root)"
        if err["type"] == "extra_forbidden":
            model = _model_at(loc)
            valid = list(model.model_fields) if model else []
            fixed = _closest_key(loc, model)
            hint = f"; did you mean {_spell(fixed, len(loc), layer)}?" if fixed is not None else ""
            section = ".".join(str(p) for p in loc[:-1])
            if len(loc) == 1 and isinstance(err.get("input"), Mapping):
                lines.append(f"unknown section [{key}] in {layer.where(loc)}{hint} Valid sections: {', '.join(valid)}")
                continue
            if len(loc) == 1:  # a key outside any section: name the section that has it
                homes = [name for name in valid if key.lower() in _fields_of(name)]
                secrets = [(name, key.lower()) for name in homes if (name, key.lower()) in secret_keys()]
                if secrets:  # never point at the file for a secret
                    hint = f"; it is a secret: set the environment variable {env_var_name(secrets[0])}, not the file."
                elif homes:
                    hint = f"; did you mean {' or '.join(f'{key.lower()!r} under [{name}]' for name in homes)}?"
                lines.append(
                    f"unknown key '{key}' at the top of {layer.where(loc)}{hint or '.'} Keys go under a section: "
                    f"{', '.join(valid)}"
                )
                continue
            what = f"section [{key}]" if isinstance(err.get("input"), Mapping) else f"key '{key}'"
            lines.append(f"unknown {what} in {layer.where(loc)}{hint} Valid keys in [{section}]: {', '.join(valid)}")
        else:
            got = err.get("input")
            secret = tuple(str(p) for p in loc) in secret_keys()
            got_text = f" (got {got!r})" if not isinstance(got, dict) and not secret else ""
            lines.append(f"bad value for '{key}' in {layer.where(loc)}: {err['msg']}{got_text}")
    return "\n".join(lines)


def validate_layer(data: Mapping[str, Any], layer: str | Layer) -> FairNADSettings:
    """Validate one layer on its own; raise :class:`SettingsError` naming the layer (and variable or flag)."""
    layer = Layer(layer) if isinstance(layer, str) else layer
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
    """The TOML file's content; :class:`SettingsError` when it is missing or not TOML."""
    if not path.is_file():
        raise SettingsError(f"config file {path} does not exist; create one with 'fairnad config init {path}'")
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None


# -- the environment layer -------------------------------------------------------------------
class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of ``os.environ``.

    pydantic-settings does the work (prefix, ``__`` nesting, case-insensitive names, JSON for
    lists and tables); only where the variables come from changes, as in its own dotenv source.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        super().__init__(
            FairNADSettings,
            case_sensitive=False,
            env_prefix=ENV_PREFIX,
            env_nested_delimiter="__",
            env_ignore_empty=True,
            env_parse_none_str=ENV_NONE,
        )

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {
            name.lower(): (None if value == self.env_parse_none_str else value)
            for name, value in self._environ.items()
            if not (self.env_ignore_empty and value == "")
        }


def env_var_name(loc: tuple[str, ...]) -> str:
    """The variable that sets a key: ``("search", "mutation_mix")`` -> ``FAIRNAD_SEARCH__MUTATION_MIX``."""
    return ENV_PREFIX + "__".join(loc).upper()


def _settings_variables(env: Mapping[str, str]) -> dict[str, str]:
    """The ``FAIRNAD_*`` variables meant as settings; :class:`SettingsError` for malformed or unknown ones."""
    sections = sorted(FairNADSettings.model_fields)
    chosen: dict[str, str] = {}
    problems: list[str] = []
    seen: dict[str, str] = {}
    for name, value in env.items():
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in OTHER_VARIABLES:
            continue
        rest = upper[len(ENV_PREFIX) :].lower()
        parts = rest.split("__")
        if parts[0] not in sections:
            glued = next((s for s in sections if rest.startswith(f"{s}_") and not rest.startswith(f"{s}__")), None)
            if glued is not None:
                hint = (
                    f"; did you mean {env_var_name((glued, rest[len(glued) + 1 :]))}? "
                    "(two underscores between the section and the key)"
                )
            else:
                close = difflib.get_close_matches(parts[0], sections, n=1)
                keys = tuple(parts[1:]) or ("...",)
                hint = f"; did you mean {env_var_name((close[0], *keys))}?" if close else ""
            problems.append(
                f"unknown environment variable {name}{hint}{'' if hint.endswith('?') else '.'} "
                f"Use FAIRNAD_<SECTION>__<KEY> with a section among "
                f"{', '.join(sections)}; other FAIRNAD_ variables: {', '.join(OTHER_VARIABLES)}"
            )
            continue
        if any(part == "" for part in parts):
            problems.append(
                f"environment variable {name} has an empty key between '__' separators; "
                f"write FAIRNAD_<SECTION>__<KEY>, e.g. FAIRNAD_SEARCH__BUDGET"
            )
            continue
        if rest in seen:
            problems.append(
                f"environment variables {seen[rest]} and {name} both set {'.'.join(parts)} "
                "(names are case-insensitive); keep one"
            )
            continue
        seen[rest] = name
        chosen[name] = value
    if problems:
        raise SettingsError("\n".join(problems))
    return chosen


def _json_example(loc: tuple[str, ...]) -> str:
    model = _model_at((*loc, None))
    if model is not None and loc[-1] in model.model_fields:
        annotation = model.model_fields[loc[-1]].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            first = next(iter(annotation.model_fields))
            return f"'{{\"{first}\": ...}}'"
    return '\'["first", "second"]\''


def env_layer(env: Mapping[str, str]) -> tuple[dict[str, Any], Layer]:
    """The ``FAIRNAD_<SECTION>__<KEY>`` variables of ``env`` as nested settings data, and the layer.

    Read by pydantic-settings' :class:`~pydantic_settings.EnvSettingsSource` (names are
    case-insensitive; ``__`` separates nesting levels; lists and tables are JSON; an empty
    variable counts as unset; ``null`` unsets an optional key). ``os.environ`` is only read,
    never changed. Raises :class:`SettingsError` naming the variable for an unknown section,
    a malformed name, the same key set twice or a value that is not the JSON a list needs.
    """
    chosen = _settings_variables(env)
    sources = {tuple(name.lower()[len(ENV_PREFIX) :].split("__")): name for name in chosen}
    layer = Layer("environment variable", sources, env_var_name)
    try:
        data = _MappingEnvSource(chosen)()
    except PydanticSettingsError:
        problems = []
        for name, value in chosen.items():
            try:
                _MappingEnvSource({name: value})()
            except PydanticSettingsError:
                loc = tuple(name.lower()[len(ENV_PREFIX) :].split("__"))
                problems.append(
                    f"bad value for '{'.'.join(loc)}' in environment variable {name}: "
                    f"{value!r} is not JSON; this key takes a list or a table written as JSON, "
                    f"e.g. {name}={_json_example(loc)}"
                )
        raise SettingsError("\n".join(problems) or "the FAIRNAD_* variables cannot be read together") from None
    return data, layer


def load_settings(
    config: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[tuple[str, ...], str] | None = None,
) -> FairNADSettings:
    """Compose defaults < file < environment < CLI ``overrides`` (nested dicts), each layer validated.

    ``env`` defaults to ``os.environ`` (read only); ``flags`` maps an override's location to
    the option that set it (``("search", "budget")`` -> ``--budget``) so errors name the flag.
    Raises :class:`SettingsError` naming the layer, the key, what set it and the valid values.
    """
    env = os.environ if env is None else env
    merged: dict[str, Any] = {}
    path = config_file_path(config, env)
    if path is not None:
        file_data = read_config_file(path)
        validate_layer(file_data, Layer(f"config file {path}"))
        _refuse_secrets_in_file(file_data, path)
        merged = _deep_merge(merged, file_data)
    env_data, env_layer_info = env_layer(env)
    if env_data:
        validate_layer(env_data, env_layer_info)
        merged = _deep_merge(merged, env_data)
    if overrides:
        validate_layer(overrides, Layer("command-line option" if flags else "command-line options", dict(flags or {})))
        merged = _deep_merge(merged, overrides)
    settings = validate_layer(merged, Layer("the merged settings"))
    return _key_from_openai_variable(settings, env)


def _key_from_openai_variable(settings: FairNADSettings, env: Mapping[str, str]) -> FairNADSettings:
    """``OPENAI_API_KEY`` is the LLM key when ``FAIRNAD_LLM__API_KEY`` set none (the variable most
    OpenAI tools read); a key from FairNAD's own variable always wins."""
    if settings.llm.api_key is not None:
        return settings
    key = api_key_from_env(env)
    if key is None:
        return settings
    return settings.model_copy(update={"llm": settings.llm.model_copy(update={"api_key": SecretStr(key)})})


def _refuse_secrets_in_file(data: Mapping[str, Any], path: Path) -> None:
    """A secret (``llm.api_key``) in a settings file is refused: files get shared and committed, and
    a run never saves secrets, so a key read from a file would also be lost on resume."""
    for loc in secret_keys():
        node: Any = data
        for part in loc:
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is not None:
            key = ".".join(loc)
            variable = ENV_PREFIX + "__".join(part.upper() for part in loc)
            raise SettingsError(
                f"config file {path} sets '{key}', a secret that never goes in a file; remove it "
                f"and set the environment variable {variable} instead"
            )


def _is_path(annotation: Any) -> bool:
    return annotation is Path or any(_is_path(arg) for arg in get_args(annotation))


def _absolute(value: Any) -> Any:
    if isinstance(value, Path):
        return value.expanduser().absolute()
    if isinstance(value, list):
        return [_absolute(item) for item in value]
    return value


def _absolute_section(section: BaseModel) -> BaseModel:
    update: dict[str, Any] = {}
    for name, info in type(section).model_fields.items():
        value = getattr(section, name)
        if isinstance(value, BaseModel):
            update[name] = _absolute_section(value)
        elif _is_path(info.annotation) and value is not None:
            update[name] = _absolute(value)
    return section.model_copy(update=update)


def absolute_paths(settings: FairNADSettings) -> FairNADSettings:
    """The settings with every path absolute (``~`` expanded), as a new run saves them.

    A run keeps its settings for ``fairnad resume``, which may be typed in another folder: a
    path as typed (``--data-dir data/c10``) would then name another folder's data, or none.
    Every ``Path`` field (``data.data_dir``, ``knowledge.template``, ``knowledge.ideas``,
    ``knowledge.store_dir``) is found from the model; ``knowledge.embedding_model`` is a name
    or a folder, and becomes absolute only when it names an existing local folder or file.
    """
    settings = cast(FairNADSettings, _absolute_section(settings))
    seed = settings.search.seed_model
    if Path(seed).suffix.lower() in (".py", ".json"):  # a seed file, not a built-in seed's name
        search = settings.search.model_copy(update={"seed_model": str(Path(seed).expanduser().absolute())})
        settings = settings.model_copy(update={"search": search})
    model = settings.knowledge.embedding_model
    if model != "bundled" and Path(model).expanduser().exists():
        knowledge = settings.knowledge.model_copy(update={"embedding_model": str(Path(model).expanduser().absolute())})
        settings = settings.model_copy(update={"knowledge": knowledge})
    return settings


def settings_from_file(path: Path) -> FairNADSettings:
    """Settings saved in a run directory, alone (no environment, no flags)."""
    return validate_layer(read_config_file(path), f"saved settings {path}")


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or any(_is_secret(arg) for arg in get_args(annotation))


def secret_keys(model: type[BaseModel] = FairNADSettings, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Locations of the secret settings (``SecretStr`` fields, e.g. ``("llm", "api_key")``), from the model."""
    found = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.extend(secret_keys(annotation, (*prefix, name)))
        elif _is_secret(annotation):
            found.append((*prefix, name))
    return found


def _leaves(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update(_leaves(value, (*prefix, str(key))))
        else:
            out[(*prefix, str(key))] = value
    return out


def _value_at(settings: BaseModel, loc: tuple[str, ...]) -> Any:
    value: Any = settings
    for part in loc:
        value = getattr(value, part)
    return value


def resumed_settings(
    saved: FairNADSettings,
    saved_path: Path,
    env: Mapping[str, str] | None = None,
    overridden: Collection[tuple[str, ...]] = (),
) -> FairNADSettings:
    """A resumed run's settings: the saved ones, with the secrets taken from the environment again.

    Secrets (the LLM key) are never saved, so a resumed run reads them from
    ``FAIRNAD_<SECTION>__<KEY>`` as a new run does. Any other ``FAIRNAD_*`` variable that
    sets a key to a value other than the saved one raises :class:`SettingsError` naming it:
    a resumed run keeps its saved settings, and a variable must never be silently ignored.
    Keys in ``overridden`` (set by a flag, which outranks the environment) are not compared.
    The config file (``--config``, ``$FAIRNAD_CONFIG``, ``./fairnad.toml``) is not read.
    """
    env = os.environ if env is None else env
    env_data, layer = env_layer(env)
    if not env_data:
        return _key_from_openai_variable(saved, env)
    from_env = validate_layer(env_data, layer)
    secrets = set(secret_keys())
    result = saved.model_copy(deep=True)
    conflicts = []
    for loc in _leaves(env_data):
        if loc in secrets:
            section = _value_at(result, loc[:-1])
            setattr(section, loc[-1], _value_at(from_env, loc))
            continue
        if loc not in overridden:
            wanted, kept = _value_at(from_env, loc), _value_at(saved, loc)
            if wanted != kept:
                conflicts.append(f"{layer.source_of(loc)} asks for {'.'.join(loc)} = {wanted!r}, saved {kept!r}")
    if conflicts:
        raise SettingsError(
            "a resumed run keeps the settings it was started with ("
            + str(saved_path)
            + "), but the environment asks for others: "
            + "; ".join(conflicts)
            + ". Unset these variables, or start a new run; 'fairnad resume --device' changes the device"
        )
    return _key_from_openai_variable(result, env)


def to_toml_data(settings: FairNADSettings) -> dict[str, Any]:
    """Settings as TOML-ready data (unset values omitted, secrets left out)."""
    data = settings.model_dump(mode="json", exclude_none=True)
    for loc in secret_keys():
        section = data
        for part in loc[:-1]:
            section = section.get(part, {})
        section.pop(loc[-1], None)
    return data


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    """One TOML value on one line (arrays and tables inline); scalars written by tomli_w."""
    import tomli_w

    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return tomli_w.dumps({"v": value}).strip()[4:]


def toml_text(data: Mapping[str, Any]) -> str:
    """Settings data as TOML with one ``key = value`` line per setting (lists inline), tables for sections.

    ``tomllib.loads(toml_text(d)) == d`` for the settings' data (strings, numbers, booleans, lists).
    """
    lines: list[str] = []

    def table(name: str, mapping: Mapping[str, Any]) -> None:
        scalars = [(k, v) for k, v in mapping.items() if not isinstance(v, Mapping)]
        tables = [(k, v) for k, v in mapping.items() if isinstance(v, Mapping)]
        if name and (scalars or not tables):
            lines.extend(["", f"[{name}]"] if lines else [f"[{name}]"])
        lines.extend(f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in scalars)
        for key, value in tables:
            table(f"{name}.{_toml_key(str(key))}" if name else _toml_key(str(key)), value)

    table("", data)
    return "\n".join(lines) + "\n"


def example_toml() -> str:
    """An example config file generated from the settings model (never hand-kept)."""
    defaults = FairNADSettings()
    out = [
        "# FairNAD settings. Generated by 'fairnad config init' from the settings model.",
        "# Precedence: command-line flags > FAIRNAD_<SECTION>__<KEY> variables > this file > defaults.",
        "# Every key is also a variable: [search.mutation_mix] fair_idea is FAIRNAD_SEARCH__MUTATION_MIX__FAIR_IDEA;",
        '# variable names are case-insensitive (in this file they are exact), lists are JSON (FAIRNAD_ROLES__GATES=\'["critic", "verifier"]\').',
        "# Commented keys are unset by default; uncomment to set them.",
    ]

    def emit(model: BaseModel, prefix: str) -> None:
        scalars, nested = [], []
        for name, info in type(model).model_fields.items():
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                nested.append((name, value))
            else:
                scalars.append((name, info, value))
        if scalars:
            out.append("")
            out.append(f"[{prefix}]")
            doc = (type(model).__doc__ or "").strip().splitlines()
            if doc:
                out.insert(len(out) - 1, f"# {doc[0]}")
        for name, info, value in scalars:
            if info.description:
                out.append(f"# {info.description}")
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
