"""The agents' prompts (the mutation agent's, and the feedback agent's ``feedback_*`` lessons
prompts): Jinja2 files in this folder, rendered by name.

Each file starts with a Jinja comment listing the variables it takes, its own and those of
the parts it includes (``{#- variables: a, b, c -#}``); a test holds the list to what the
templates really use.
Files whose name starts with ``_`` are parts included by the others.

Prompts are budgeted with :func:`estimate_tokens`: ``ceil(characters / 3.5)``. That is a
deliberately pessimistic estimate for code and English with the tokenizers of current code
models (about 3.5-4.5 characters per token); ``tiktoken`` is not used because it cannot fetch
its encodings offline, and a local server's tokenizer is not ours to call.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Any

import jinja2

__all__ = ["PROMPTS_DIR", "declared_variables", "estimate_tokens", "prompt_names", "prompt_tokens", "render"]

PROMPTS_DIR = Path(__file__).resolve().parent
CHARS_PER_TOKEN = 3.5
DEFAULT_CONTEXT_TOKENS = 8192
DEFAULT_ANSWER_TOKENS = 2048
_HEADER = re.compile(r"\A\{#-?\s*variables:\s*(.*?)\s*-?#\}", re.DOTALL)


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(PROMPTS_DIR),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )


def prompt_names() -> list[str]:
    """The template files of this folder (``mutation_code.md.j2`` ...), parts (``_*``) included, sorted."""
    return sorted(p.name for p in PROMPTS_DIR.glob("*.j2"))


def declared_variables(name: str) -> set[str]:
    """The variables the header comment of template ``name`` lists; raises ``ValueError`` without one."""
    text = (PROMPTS_DIR / name).read_text(encoding="utf-8")
    match = _HEADER.match(text)
    if match is None:
        raise ValueError(f"prompt {name} does not start with a '{{#- variables: ... -#}}' comment")
    listed = match.group(1).strip()
    return {v.strip() for v in listed.split(",") if v.strip() and v.strip() != "none"}


def render(name: str, **variables: Any) -> str:
    """Template ``name`` rendered with ``variables``, stripped of leading and trailing blank lines.

    Variables are inserted as they are (a source keeps its blank lines: edits must match it).

    Raises ``jinja2.UndefinedError`` when a variable the template uses is missing, and
    ``jinja2.TemplateNotFound`` for an unknown name.
    """
    text = _environment().get_template(name).render(**variables)
    return text.strip() + "\n"


def estimate_tokens(text: str) -> int:
    """Estimated tokens of ``text``: ``ceil(len(text) / 3.5)`` (see the module docstring)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def prompt_tokens(llm: Any) -> int:
    """Tokens a prompt may take with chat client ``llm``: its ``settings.context_tokens`` minus
    ``settings.max_answer_tokens`` (8192 - 2048 when the client has no such settings)."""
    settings = getattr(llm, "settings", None)
    context = getattr(settings, "context_tokens", None) or DEFAULT_CONTEXT_TOKENS
    answer = getattr(settings, "max_answer_tokens", None) or DEFAULT_ANSWER_TOKENS
    return int(context) - int(answer)
