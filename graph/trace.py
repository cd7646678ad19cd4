"""``trace.jsonl``: one JSON object per line, flushed per event, secrets redacted.

Every event has ``v`` (schema version), ``ts``, ``event``, ``role`` and ``candidate``;
role steps add ``given`` (what the role was given, in short), ``decided`` and
``seconds``, plus ``tokens`` when an LLM was used. Large payloads live in the
candidate folder and are referenced by path.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TRACE_VERSION = 1
_SECRET_KEY = re.compile(r"(api[_-]?key|secret|token(?!s$|s_in$|s_out$|s_estimated$)|password|authorization)", re.I)
"""Keys whose values are hidden; token counts (``tokens``, ``tokens_in``, ``tokens_out``,
``tokens_estimated``) are numbers, not credentials."""
_SECRET_VALUE = re.compile(r"\b(sk-[A-Za-z0-9_-]{8,}|Bearer\s+[A-Za-z0-9._-]{8,})")
_MAX_TEXT = 2000


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("***" if _SECRET_KEY.search(str(k)) else _clean(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        text = _SECRET_VALUE.sub("***", value)
        return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + " ..."
    if isinstance(value, Path):
        return str(value)
    return value


class TraceWriter:
    """Appends events to ``trace.jsonl``; safe to call from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def emit(self, event: str, *, role: str | None = None, candidate: str | None = None, **fields: Any) -> None:
        record = {
            "v": TRACE_VERSION,
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "event": event,
            "role": role,
            "candidate": candidate,
            **_clean(fields),
        }
        line = json.dumps(record, default=str, ensure_ascii=False)
        with self._lock:
            self._handle.write(line + "\n")
            self._handle.flush()

    def close(self) -> None:
        with self._lock:
            if not self._handle.closed:
                self._handle.flush()
                os.fsync(self._handle.fileno())
                self._handle.close()


NO_ACTOR = "-"
"""What the role/tool column shows for an event of neither (``run_started``, ``run_ended``)."""


def actor(event: Mapping[str, Any]) -> str:
    """What the trace's role/tool column shows for an event: its role, else its tool (``train``), else ``-``."""
    return str(event.get("role") or event.get("tool") or NO_ACTOR)


def candidate_id(text: str) -> str:
    """A candidate id as the run writes it: ``"1"``, ``"01"`` and ``"0001"`` all give ``"0001"``."""
    text = text.strip()
    return f"{int(text):04d}" if text.isdigit() else text


def _events(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash
            if isinstance(event, dict):
                yield event


def read_trace(path: Path, role: str | None = None, candidate: str | None = None) -> Iterator[dict[str, Any]]:
    """Events of a trace, optionally only one role's or tool's (as the role/tool column shows it,
    case-insensitive) and one candidate's (``1`` matches ``0001``); torn lines skipped."""
    wanted_role = role.lower() if role is not None else None
    wanted_candidate = candidate_id(candidate) if candidate is not None else None
    for event in _events(path):
        if wanted_role is not None and actor(event).lower() != wanted_role:
            continue
        if wanted_candidate is not None and candidate_id(str(event.get("candidate") or "")) != wanted_candidate:
            continue
        yield event


@dataclass(frozen=True)
class TraceValues:
    """The filter values a trace holds: roles and tools (lower case), candidate ids; each sorted."""

    actors: list[str]
    candidates: list[str]


def trace_values(path: Path) -> TraceValues:
    """Every role/tool and candidate id that occurs in a trace, to list when a filter matches none."""
    actors: set[str] = set()
    candidates: set[str] = set()
    for event in _events(path):
        actors.add(actor(event).lower())
        if event.get("candidate"):
            candidates.add(candidate_id(str(event["candidate"])))
    return TraceValues(sorted(actors), sorted(candidates))
