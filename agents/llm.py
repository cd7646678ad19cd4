"""Chat-model backends, looked up by provider name (no if/elif dispatch in the roles)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents.settings import LLMSettings

LLMFactory = Callable[[LLMSettings], Any]
_BACKENDS: dict[str, LLMFactory] = {}


def register_backend(name: str) -> Callable[[LLMFactory], LLMFactory]:
    def decorator(factory: LLMFactory) -> LLMFactory:
        if name in _BACKENDS:
            raise ValueError(f"LLM backend {name!r} is registered twice")
        _BACKENDS[name] = factory
        return factory

    return decorator


@register_backend("none")
def _none(settings: LLMSettings) -> None:
    return None


@register_backend("openai")
def _openai(settings: LLMSettings) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=settings.model,
        base_url=settings.base_url,
        api_key=settings.api_key.get_secret_value() if settings.api_key else "not-needed",
        temperature=settings.temperature,
        timeout=settings.timeout_s,
        max_retries=settings.max_retries,
    )


def make_chat_model(settings: LLMSettings) -> Any:
    """The configured chat model, or ``None`` for the built-in policies."""
    try:
        factory = _BACKENDS[settings.provider]
    except KeyError:
        raise ValueError(f"unknown LLM provider {settings.provider!r}; valid: {', '.join(sorted(_BACKENDS))}") from None
    return factory(settings)
