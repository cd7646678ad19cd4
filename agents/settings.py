"""Settings sections owned by the agents package: ``[llm]`` and ``[mutation]``.

The API key is a secret: it is read from the environment only (``FAIRNAD_LLM__API_KEY``, or
``OPENAI_API_KEY`` when that is absent, see :func:`api_key_from_env`), never from a file,
and never saved with a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from fairnad_tools.settings import Section

__all__ = [
    "API_KEY_VARIABLES",
    "LLMRoleSettings",
    "LLMSettings",
    "MutationSettings",
    "Price",
    "api_key_from_env",
]

API_KEY_VARIABLES = ("FAIRNAD_LLM__API_KEY", "OPENAI_API_KEY")
"""Environment variables that hold the LLM key, first found wins (names are case-insensitive)."""

BACKOFF_CAP_S = 60.0
"""The longest wait between two tries of a call, in seconds (backoff and ``Retry-After`` alike)."""


def _invalid(message: str) -> PydanticCustomError:
    """A validation error whose message is shown as written (a plain ``ValueError`` gets pydantic's
    ``"Value error, "`` prefix). The message is not a template: it is never formatted."""
    return PydanticCustomError("invalid_llm_settings", message)


def _check_base_url(value: str | None) -> str | None:
    if value is None:
        return value
    if not value.startswith(("http://", "https://")):
        raise _invalid(f"base_url must start with http:// or https://: try http://{value.split('://')[-1]}")
    return value


def api_key_from_env(env: Mapping[str, str]) -> str | None:
    """The LLM API key from ``env``: ``FAIRNAD_LLM__API_KEY``, else ``OPENAI_API_KEY``, else ``None``.

    Names are matched case-insensitively, as the settings' environment layer does; an empty
    value counts as unset. The value is returned as read (the caller wraps it in ``SecretStr``).
    """
    folded = {name.upper(): value for name, value in env.items() if value}
    for name in API_KEY_VARIABLES:
        if folded.get(name):
            return folded[name]
    return None


class Price(Section):
    """What a model costs, in US dollars per million tokens."""

    input: float = Field(ge=0, description="USD per 1M prompt tokens")
    output: float = Field(ge=0, description="USD per 1M answer tokens")

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        """The cost in USD of a call with these token counts."""
        return (tokens_in * self.input + tokens_out * self.output) / 1_000_000


class LLMRoleSettings(Section):
    """One role's overrides of ``[llm]`` (``[llm.roles.mutation] model = ...``); unset keys keep ``[llm]``'s."""

    model: str | None = Field(default=None, description="model name at the endpoint for this role")
    base_url: str | None = Field(default=None, description="endpoint for this role")
    temperature: float | None = Field(default=None, ge=0, le=2, description="sampling temperature for this role")
    timeout_s: float | None = Field(default=None, gt=0, description="seconds one try may take for this role")
    max_retries: int | None = Field(default=None, ge=0, le=10, description="tries after the first for this role")
    context_tokens: int | None = Field(default=None, ge=256, description="context window of this role's model")
    max_answer_tokens: int | None = Field(default=None, ge=16, description="longest answer for this role")

    _base_url_scheme = field_validator("base_url")(_check_base_url)


class LLMSettings(Section):
    """The chat model behind the roles; ``provider = "none"`` runs the built-in policies."""

    provider: Literal["none", "openai", "replay"] = Field(
        default="none",
        description="none: built-in policies, no LLM; openai: OpenAI or any OpenAI-compatible server "
        "(vLLM, Ollama, llama.cpp, LM Studio); replay: answer from the recorded exchanges in replay_dir",
    )
    base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8077/v1; unset: OpenAI's"
    )
    model: str = Field(default="gpt-4o-mini", description="model name at the endpoint")
    api_key: SecretStr | None = Field(
        default=None,
        description="secret: set FAIRNAD_LLM__API_KEY (or OPENAI_API_KEY), never the file; "
        "optional when base_url is set",
    )
    temperature: float = Field(default=0.7, ge=0, le=2, description="sampling temperature")
    timeout_s: float = Field(
        default=300, gt=0, description="seconds one try of a call may take (a small local model writes slowly)"
    )
    max_retries: int = Field(
        default=3, ge=0, le=10, description="tries after the first on a timeout, refused connection, 429 or 5xx"
    )
    backoff_s: float = Field(
        default=2.0,
        ge=0,
        le=BACKOFF_CAP_S,
        description=f"first wait between tries in seconds; doubles per try, at most {BACKOFF_CAP_S:g} "
        "(a 429's Retry-After is honoured, with the same cap)",
    )
    context_tokens: int = Field(
        default=8192, ge=256, description="context window of the model in tokens (prompt plus answer)"
    )
    max_answer_tokens: int = Field(default=2048, ge=16, description="longest answer in tokens")
    concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        description="LLM steps of a round made at once (remote APIs answer in 5-60 s, a local server in minutes); "
        "candidate ids, files and the trace keep their order; with an LLM budget set, steps go one at a time",
    )
    max_consecutive_failures: int = Field(
        default=3, ge=1, description="stop the run after this many LLM steps in a row failed after their retries"
    )
    max_llm_calls: int | None = Field(
        default=None,
        ge=1,
        description="budget: stop the run (resumable) after this many LLM calls; checked before each call; unset: off",
    )
    max_tokens: int | None = Field(
        default=None,
        ge=1,
        description="budget: stop the run after this many tokens, in plus out; checked before each call, so the "
        "call that crosses it completes (the total may end above it by one call's tokens); unset: off",
    )
    max_cost_usd: float | None = Field(
        default=None,
        gt=0,
        description="budget: stop the run after this cost in USD; checked before each call, so the call that "
        "crosses it completes (the total may end above it by one call's cost); needs a price for every model "
        "used; unset: off",
    )
    prices: dict[str, Price] = Field(
        default_factory=dict,
        description='USD per 1M tokens by model, e.g. {"gpt-4o-mini" = {input = 0.15, output = 0.6}}; '
        "a model without a price has its cost 'not reported', never 0",
    )
    replay_dir: Path | None = Field(
        default=None, description="provider replay: the run directory whose recorded exchanges answer"
    )
    replay_metrics: bool = Field(
        default=False,
        description="provider replay: also reuse the recorded run's training results for byte-identical "
        "model.py files (the whole decision sequence reproduced on any machine)",
    )
    roles: dict[str, LLMRoleSettings] = Field(
        default_factory=dict,
        description="per-role overrides by role name, e.g. [llm.roles.mutation] model = ...",
    )
    _role: str | None = PrivateAttr(default=None)
    _overridden: frozenset[str] = PrivateAttr(default=frozenset())

    _base_url_scheme = field_validator("base_url")(_check_base_url)

    @model_validator(mode="after")
    def _consistent(self) -> LLMSettings:
        if self.provider == "replay" and self.replay_dir is None:
            raise _invalid("provider 'replay' needs replay_dir, the run directory to answer from")
        if self.max_cost_usd is not None and self.provider == "openai":
            unpriced = sorted(m for m in self.models() if m not in self.prices)
            if unpriced:
                raise _invalid(
                    f"max_cost_usd is set but model(s) {', '.join(map(repr, unpriced))} have no price: add "
                    f'[llm.prices] "{unpriced[0]}" = {{input = ..., output = ...}} (USD per 1M tokens), '
                    "or unset max_cost_usd and use max_tokens"
                )
        for name, role in self.roles.items():
            context = role.context_tokens or self.context_tokens
            answer = role.max_answer_tokens or self.max_answer_tokens
            if answer >= context:
                raise _invalid(f"roles.{name}: max_answer_tokens {answer} must be below context_tokens {context}")
        if self.max_answer_tokens >= self.context_tokens:
            raise _invalid(
                f"max_answer_tokens {self.max_answer_tokens} must be below context_tokens {self.context_tokens}"
            )
        return self

    def models(self) -> list[str]:
        """Every model name in use: ``model`` and the roles' overrides."""
        names = {self.model}
        names.update(role.model for role in self.roles.values() if role.model)
        return sorted(names)

    def for_role(self, name: str) -> LLMSettings:
        """These settings with role ``name``'s overrides applied (unchanged when it has none).

        The copy remembers which keys came from ``[llm.roles.<name>]``, so that a message can
        name the key to fix (:meth:`key_of`).
        """
        role = self.roles.get(name)
        if role is None:
            return self
        update = role.model_dump(exclude_none=True)
        if not update:
            return self
        effective = self.model_copy(update=update)
        effective._role = name
        effective._overridden = frozenset(update)
        return effective

    def key_of(self, name: str) -> str:
        """Where setting ``name`` comes from, as a user writes it: ``llm.roles.<role>.<name>`` when
        :meth:`for_role` took it from a role's override, else ``llm.<name>``."""
        if self._role is not None and name in self._overridden:
            return f"llm.roles.{self._role}.{name}"
        return f"llm.{name}"

    def price(self, model: str) -> Price | None:
        """The price of ``model``, or ``None`` when the table has none (cost "not reported")."""
        return self.prices.get(model)


class MutationSettings(Section):
    """How the mutation role asks the LLM for a child (ignored by the built-in policy)."""

    mode: Literal["auto", "code", "diff", "spec"] = Field(
        default="auto",
        description="code: the whole new model.py; diff: search/replace edits to the parent; spec: a typed "
        "transformation from the space's vocabulary; auto: the mutation agent chooses per candidate by its "
        "documented rule",
    )
    spec_choices: int = Field(
        default=6, ge=1, le=50, description="spec mode: how many transformations the LLM chooses among"
    )
