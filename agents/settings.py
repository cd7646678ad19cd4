"""Settings section owned by the agents package: ``[llm]``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class LLMSettings(BaseModel):
    """The chat model behind the roles; ``provider = "none"`` runs the built-in policies."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    provider: Literal["none", "openai"] = Field(
        default="none",
        description="none: built-in policies, no LLM; openai: any OpenAI-compatible endpoint",
    )
    base_url: str | None = Field(default=None, description="e.g. http://localhost:8000/v1 (vLLM, Ollama)")
    model: str = Field(default="gpt-4o-mini", description="model name at the endpoint")
    api_key: SecretStr | None = Field(default=None, description="set FAIRNAD_LLM__API_KEY, not the file")
    temperature: float = Field(default=0.7, ge=0, le=2)
    timeout_s: float = Field(default=120, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
