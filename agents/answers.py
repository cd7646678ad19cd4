"""Pulling usable content out of an LLM's reply: reasoning blocks, JSON objects.

Real servers wrap answers in prose, Markdown fences and, for reasoning models such as Qwen3,
a ``<think>…</think>`` block before the answer (DESIGN.md §5, LLM traps). Everything here is
pure text processing: no LLM, no I/O.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["AnswerError", "extract_json", "strip_think"]

_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n(.*?)(?:\n```|\Z)", re.DOTALL)


class AnswerError(ValueError):
    """A reply holds no usable answer of the kind asked for; the message says what is wrong."""


def strip_think(text: str) -> str:
    """``text`` without ``<think>…</think>`` blocks (an unclosed block runs to the end)."""
    return _THINK.sub("", text).strip()


def extract_json(text: str) -> dict[str, Any]:
    """The first JSON object in ``text``: the whole reply, a fenced block, or the first ``{…}`` span.

    Raises :class:`AnswerError` when no JSON object can be decoded (the message quotes the
    decoder's complaint, which is what a re-ask tells the LLM).
    """
    body = strip_think(text)
    tries = [body, *(m.group(1) for m in _FENCE.finditer(body))]
    start = body.find("{")
    if start >= 0:
        tries.append(body[start:])
    last = "the reply holds no '{'"
    decoder = json.JSONDecoder()
    for chunk in tries:
        chunk = chunk.strip()
        brace = chunk.find("{")
        if brace < 0:
            continue
        try:
            value, _ = decoder.raw_decode(chunk[brace:])
        except json.JSONDecodeError as exc:
            last = f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            continue
        if isinstance(value, dict):
            return value
        last = f"expected a JSON object, got {type(value).__name__}"
    raise AnswerError(f"no JSON object in the reply ({last})")
