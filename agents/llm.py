"""The LLM client the roles hold: calls, retries, structured answers, cost, recording and replay.

One :class:`Ledger` per run is shared by every role's :class:`LLMClient`. Each call is one
:class:`Exchange` (prompt, answer, usage, latency, method, error), appended to the ledger;
the graph drains the ledger and writes the exchanges as ``candidates/<id>/llm/NN-<role>.json``;
a call that belongs to a round rather than a candidate (the feedback role's lessons) has the
key :func:`round_key` (``round-NN``) in place of a candidate id and is kept as
``lessons/llm/NN-<role>.json``.

Calls and their tries
    The chat model is built with ``max_retries=0``: this module retries, so that a 429's
    ``Retry-After`` is honoured and every try is traced (``Exchange.tries``). Timeouts,
    refused connections, HTTP 408/409/429, 5xx and answers the client cannot read (no JSON,
    or JSON that is no chat completion: ``{}``, ``{"choices": []}``, a ``null`` message; kind
    ``"server"``, detail ``"malformed answer: ..."``) are tried again, at most ``max_retries``
    times, after ``backoff_s`` seconds doubling per try (at most 60 s; a ``Retry-After``
    replaces the backoff, with the same cap). Each wait is logged at INFO. 400/401/403/404/422
    are not tried again (kind ``"refused"``). After the last try the step raises
    :class:`LLMError` whose message names the endpoint, the model, what happened and the fix
    (the setting to change: ``llm.roles.<role>.model`` when the role's override chose the
    model). Nothing the server sends makes ``chat``, ``structured`` or ``probe`` raise anything
    but :class:`LLMError`.

The probe
    :meth:`LLMClient.probe` makes one small call before a run. It waits at most
    :data:`PROBE_WAIT_CAP_S` seconds in all: a rate-limited or overloaded endpoint is
    reported at once (with the ``Retry-After`` it gave). OpenAI's own API without a key is
    reported before any request; a 401 without a key says one is needed; a 404 from a base
    URL that does not end in ``/v1`` suggests the ``/v1`` URL.

Structured answers
    :meth:`LLMClient.structured` uses the best method the server accepts, in the order
    ``json_schema`` -> ``function_calling`` (a forced tool call: ``tool_choice`` names the
    tool, as llama.cpp ignores automatic tool choice) -> ``json_mode`` -> ``text`` (the
    schema described in the prompt, JSON pulled from the reply). A method is dropped when the
    server refuses it (HTTP 400/422; or, while no method is known yet, HTTP 500/501, which is
    how llama.cpp's Python server answers a JSON-schema ``response_format``: read as a
    refusal, never retried as a transient fault; the exchange keeps a short note, ``error_kind
    "unsupported"``, ``error "json_schema not supported by this server (HTTP 500); trying
    function_calling"``) or when its reply holds no JSON object (a
    model answering in prose, or ``null``). The first method whose reply holds JSON is
    remembered in ``Ledger.method`` for the rest of the run. The JSON is validated with
    pydantic; a reply that does not validate is re-asked once with the errors, then the step
    raises ``LLMError(kind="bad_answer")``.

Tokens and cost
    From the response's usage fields. A server that reports none gets an estimate of
    ``ceil(characters / 3.5)`` per side (prompt: every message's content; answer: the raw
    reply, ``<think>`` block included), marked ``tokens_estimated``; ``tiktoken`` is never
    used (it cannot fetch its encodings offline). A ``<think>…</think>`` block is stripped
    from the answer's text but its tokens count. Cost comes from ``[llm] prices``; a model
    without a price has cost ``None`` ("not reported"), never 0.

Recording, replay and resume
    ``step`` numbers the calls of one (candidate, attempt, role) in this process from 0.
    Before a real call the client asks ``ledger.recordings`` for (candidate, attempt, role,
    step); a hit is answered from the record (``replayed=True``, tokens and cost copied, a
    recorded failure raised again) and never reaches a server. Provider ``replay`` has no
    server: a miss raises ``LLMError(kind="replay")`` naming the key, and so does a call whose
    prompt differs from the recorded one (the replay diverged: its recorded answer would be
    wrong). A resumed run (provider ``openai``) answering from its own records is lenient: a
    changed prompt is answered from the record all the same and marked ``prompt_changed``.

Timings
    ``Exchange.latency_s`` is the step's whole wall time, every try and wait included; each
    failed try in ``Exchange.tries`` keeps its own seconds and the wait after it.

    Counting: a replayed exchange counts in the ledger's totals like a real one (a replay run
    reproduces the recorded run's tokens), except one whose key was passed to
    :meth:`Ledger.add_existing`: a resumed run adds its stored exchanges' totals once at
    start, and a call of the resumed run answered from one of those records is not counted
    again.

The API key is a secret: it appears in no exchange, message, ``repr`` or log line (error
bodies from the server are redacted before they are kept).
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from agents.answers import AnswerError, extract_json, strip_think
from agents.settings import BACKOFF_CAP_S, LLMSettings

__all__ = [
    "METHODS",
    "Exchange",
    "LLMBudgetExhausted",
    "LLMClient",
    "LLMError",
    "LLMProbeError",
    "Ledger",
    "Message",
    "Recordings",
    "is_round_key",
    "round_key",
    "Reply",
    "estimate_tokens",
    "make_chat_model",
    "make_client",
    "register_backend",
]

logger = logging.getLogger(__name__)

Message = dict[str, str]
"""One chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``."""

Method = Literal["json_schema", "function_calling", "json_mode", "text"]
METHODS: tuple[Method, ...] = ("json_schema", "function_calling", "json_mode", "text")
"""Structured-output methods, best first; ``text`` (plain chat calls too) always works."""

ErrorKind = Literal["timeout", "connection", "rate_limit", "server", "refused", "bad_answer", "replay", "budget"]
_RETRIED = frozenset({"timeout", "connection", "rate_limit", "server"})
_UNSUPPORTED = "unsupported"  # the server refused a structured-output method; only inside structured()

CHARS_PER_TOKEN = 3.5
"""The token estimate's ratio when a server reports no usage: ``ceil(characters / 3.5)``."""

OPENAI_BASE_URL = "https://api.openai.com/v1"

_sleep: Callable[[float], None] = time.sleep
"""Every wait between tries goes through this (tests replace it to record waits)."""

_clock: Callable[[], float] = time.monotonic
"""The clock that times tries and steps (tests may replace it along with :data:`_sleep`)."""

PROBE_WAIT_CAP_S = 10.0
"""The longest the start-up probe waits in all between its tries: a busy endpoint is reported at once."""

_DETAIL_CHARS = 300
"""A server's error text is kept to this many characters, on one line (tracebacks and dumps cut)."""


ROUND_KEY_PREFIX = "round-"


def round_key(round: int) -> str:
    """The exchange key (in place of a candidate id) of a call that belongs to round ``round``: ``round-NN``."""
    return f"{ROUND_KEY_PREFIX}{round:02d}"


def is_round_key(candidate: str) -> bool:
    """Whether an exchange's ``candidate`` is a round's key (:func:`round_key`), not a candidate id."""
    return candidate.startswith(ROUND_KEY_PREFIX)


def estimate_tokens(text: str) -> int:
    """Estimated tokens of ``text``: ``ceil(len(text) / 3.5)`` (0 for an empty text)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


# -- errors ---------------------------------------------------------------------------------------
class LLMError(RuntimeError):
    """A step's call failed after its retries, or its answer is unusable.

    ``kind`` says which: ``"timeout"``, ``"connection"``, ``"rate_limit"``, ``"server"``
    (5xx or a malformed body), ``"refused"`` (HTTP 400/401/403/404/422), ``"bad_answer"``
    (no valid structured answer after the re-ask), ``"replay"`` (no recorded exchange, or
    the replay diverged from the recording),
    ``"budget"`` (:class:`LLMBudgetExhausted`). The message names what happened and the fix.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class LLMBudgetExhausted(LLMError):
    """An LLM budget (``max_llm_calls``, ``max_tokens`` or ``max_cost_usd``) is reached (kind ``"budget"``)."""

    def __init__(self, message: str) -> None:
        super().__init__("budget", message)


class LLMProbeError(LLMError):
    """The start-up probe failed: one line naming the base URL, the model and the fix."""


# -- records --------------------------------------------------------------------------------------
@dataclass
class Exchange:
    """One call to the LLM (or answered from a recording), as stored in ``candidates/<id>/llm/``
    (``lessons/llm/`` for a round's call: ``candidate`` is then :func:`round_key`'s ``round-NN``).

    ``answer`` is the raw reply (``<think>`` blocks kept), or, for a tool call, the call's
    arguments as JSON text. ``parsed`` is the JSON object a structured call pulled out of it
    (``None`` for plain chat, or when there was none). ``tokens_in`` / ``tokens_out`` are
    the server's counts or estimates (``tokens_estimated``); ``latency_s`` is the seconds the
    whole call took, tries and waits included; ``cost_usd`` is ``None`` when the model has no
    price. ``error`` and ``error_kind`` say why the call failed (``None`` when it did not;
    ``error_kind`` ``"unsupported"`` is a server refusing a structured-output method, an
    expected step of finding the method: ``error`` is then a short note naming the method
    tried next). ``attempts`` counts the tries; ``tries`` lists the failed ones (kind, detail,
    seconds, wait before the next).
    """

    role: str
    candidate: str
    attempt: int
    step: int
    purpose: str
    model: str
    method: str
    messages: list[Message]
    answer: str = ""
    parsed: dict[str, Any] | None = None
    finish_reason: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_estimated: bool = False
    latency_s: float = 0.0
    cost_usd: float | None = None
    error: str | None = None
    replayed: bool = False
    attempts: int = 1
    error_kind: str | None = None
    tries: list[dict[str, Any]] = field(default_factory=list)
    prompt_changed: bool = False

    @property
    def key(self) -> tuple[str, int, str, int]:
        """(candidate, attempt, role, step): what a recording is looked up by."""
        return (self.candidate, self.attempt, self.role, self.step)

    def to_json(self) -> dict[str, Any]:
        """The exchange as JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Exchange:
        """An exchange from :meth:`to_json`'s data; unknown keys are ignored, missing required ones raise."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Reply:
    """A chat answer: ``text`` without ``<think>`` blocks, ``truncated`` when ``finish_reason == "length"``."""

    text: str
    finish_reason: str | None
    truncated: bool
    exchange: Exchange


class Recordings:
    """Recorded exchanges, looked up by (candidate, attempt, role, step)."""

    def __init__(self, exchanges: Iterable[Exchange] = ()) -> None:
        self._by_key: dict[tuple[str, int, str, int], Exchange] = {}
        for exchange in exchanges:
            self._by_key[exchange.key] = exchange

    @classmethod
    def from_run_dir(cls, run_dir: Path) -> Recordings:
        """The exchanges stored under ``run_dir/candidates/*/llm/*.json`` and ``run_dir/lessons/llm/*.json``.

        Raises ``ValueError`` naming the file when one is not an exchange.
        """
        exchanges = []
        root = Path(run_dir)
        for path in [*sorted(root.glob("candidates/*/llm/*.json")), *sorted(root.glob("lessons/llm/*.json"))]:
            try:
                exchanges.append(Exchange.from_json(json.loads(path.read_text(encoding="utf-8"))))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path} is not a recorded LLM exchange ({exc}); remove or repair it") from None
        return cls(exchanges)

    def get(self, candidate: str, attempt: int, role: str, step: int) -> Exchange | None:
        """The recorded exchange for this key, or ``None``."""
        return self._by_key.get((candidate, attempt, role, step))

    def exchanges(self) -> list[Exchange]:
        """Every recorded exchange, in key order."""
        return [self._by_key[key] for key in sorted(self._by_key)]

    def combined(self, other: Recordings) -> Recordings:
        """These recordings and ``other``'s; on the same key, these win."""
        return Recordings([*other._by_key.values(), *self._by_key.values()])

    def __len__(self) -> int:
        return len(self._by_key)


class Ledger:
    """Run-wide LLM accounting, shared by every role's client and owned by the graph.

    ``calls``, ``tokens_in``, ``tokens_out`` and ``cost_usd`` (``None`` once any counted
    exchange has no price) total the run's exchanges, failed ones included (a failed call
    has no tokens); ``consecutive_failures`` counts the steps in a row that raised
    :class:`LLMError`; ``method`` is the structured-output method that worked. With provider
    ``replay`` and no ``recordings`` given, the recordings are read from
    ``settings.replay_dir``. Thread-safe.
    """

    def __init__(self, settings: LLMSettings, recordings: Recordings | None = None) -> None:
        if recordings is None and settings.provider == "replay" and settings.replay_dir is not None:
            recordings = Recordings.from_run_dir(settings.replay_dir)
        self.settings = settings
        self.recordings = recordings if recordings is not None else Recordings()
        self.calls = 0
        self.tokens_in = 0
        self.tokens_out = 0
        self._cost_known = 0.0
        self._cost_unknown = False
        self.consecutive_failures = 0
        self.method: str | None = None
        self._new: list[Exchange] = []
        self._counted: set[tuple[str, int, str, int]] = set()
        self._steps: dict[tuple[str, int, str], int] = {}
        self._lock = threading.RLock()
        self.kept: set[tuple[str, int, str, int]] = set()
        """Keys of exchanges already kept in the run directory (the graph fills and reads it), so
        a call answered from the run's own file is not written twice."""

    @property
    def cost_usd(self) -> float | None:
        """Total cost in USD, or ``None`` when a counted exchange's model has no price."""
        return None if self._cost_unknown else self._cost_known

    @property
    def tokens(self) -> int:
        """Tokens in plus out."""
        return self.tokens_in + self.tokens_out

    @property
    def failures_exhausted(self) -> bool:
        """``consecutive_failures`` has reached ``max_consecutive_failures``: the run should stop."""
        return self.consecutive_failures >= self.settings.max_consecutive_failures

    def next_step(self, candidate: str, attempt: int, role: str) -> int:
        """The step number of the next call of (candidate, attempt, role), from 0."""
        with self._lock:
            key = (candidate, attempt, role)
            step = self._steps.get(key, 0)
            self._steps[key] = step + 1
            return step

    def _count(self, exchange: Exchange) -> None:
        self.calls += 1
        self.tokens_in += exchange.tokens_in
        self.tokens_out += exchange.tokens_out
        if exchange.cost_usd is None:
            self._cost_unknown = True
        else:
            self._cost_known += exchange.cost_usd

    def record(self, exchange: Exchange) -> None:
        """Append an exchange and count it (a replay of a record given to :meth:`add_existing` is not counted)."""
        with self._lock:
            self._new.append(exchange)
            if exchange.replayed and exchange.key in self._counted:
                self._counted.discard(exchange.key)
                return
            self._count(exchange)

    def add_existing(self, exchanges: Iterable[Exchange]) -> None:
        """Count a resumed run's stored exchanges once, at start.

        A later call answered from the record of one of them (same key) is not counted
        again; a call that goes past them is counted as usual.
        """
        with self._lock:
            for exchange in exchanges:
                self._count(exchange)
                self._counted.add(exchange.key)

    def drain(self, candidate: str | None = None) -> list[Exchange]:
        """The exchanges appended since the last drain, in order (the graph writes them); only
        ``candidate``'s when given (calls of a round run concurrently), the others stay."""
        with self._lock:
            if candidate is None:
                new, self._new = self._new, []
            else:
                new = [e for e in self._new if e.candidate == candidate]
                self._new = [e for e in self._new if e.candidate != candidate]
            return new

    @property
    def budgeted(self) -> bool:
        """Whether any LLM budget is set (``max_llm_calls``, ``max_tokens``, ``max_cost_usd``)."""
        s = self.settings
        return s.max_llm_calls is not None or s.max_tokens is not None or s.max_cost_usd is not None

    def note_failure(self) -> None:
        """A step raised :class:`LLMError` (budget aside): one more consecutive failure."""
        with self._lock:
            self.consecutive_failures += 1

    def note_success(self) -> None:
        """A step succeeded: the consecutive failures start again from 0."""
        with self._lock:
            self.consecutive_failures = 0

    def check_budget(self) -> None:
        """Raise :class:`LLMBudgetExhausted` when a configured budget is reached (all off by default).

        Checked before each call: the call that crosses a budget completes, so a run may end
        above ``max_tokens`` or ``max_cost_usd`` by one call's tokens or cost.

        ``max_llm_calls`` counts calls; ``max_tokens`` tokens in plus out; ``max_cost_usd``
        the cost of the calls whose model has a price.
        """
        s = self.settings
        with self._lock:
            reached = None
            if s.max_llm_calls is not None and self.calls >= s.max_llm_calls:
                reached = ("max_llm_calls", s.max_llm_calls, f"{self.calls} calls")
            elif s.max_tokens is not None and self.tokens >= s.max_tokens:
                reached = ("max_tokens", s.max_tokens, f"{self.tokens} tokens in and out")
            elif s.max_cost_usd is not None and self._cost_known >= s.max_cost_usd:
                reached = ("max_cost_usd", s.max_cost_usd, f"${self._cost_known:.4f} spent")
        if reached is not None:
            name, value, count = reached
            raise LLMBudgetExhausted(
                f"LLM budget reached: llm.{name} = {value:g} and the run has used {count}. The run stops here, "
                f"saved; to go on, resume it with a larger one: fairnad resume RUN_DIR --{name.replace('_', '-')} N"
            )


# -- backends -------------------------------------------------------------------------------------
LLMFactory = Callable[[LLMSettings], Any]
_BACKENDS: dict[str, LLMFactory] = {}


def register_backend(name: str) -> Callable[[LLMFactory], LLMFactory]:
    """Register a chat-model factory for provider ``name`` (a decorator); a name registered twice raises."""

    def decorator(factory: LLMFactory) -> LLMFactory:
        if name in _BACKENDS:
            raise ValueError(f"LLM backend {name!r} is registered twice")
        _BACKENDS[name] = factory
        return factory

    return decorator


@register_backend("none")
def _none(settings: LLMSettings) -> None:
    return None


@register_backend("replay")
def _replay(settings: LLMSettings) -> None:
    return None  # answers come from the recordings only


@register_backend("openai")
def _openai(settings: LLMSettings) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=settings.model,
        # Explicit, so that OPENAI_BASE_URL never redirects a run behind the settings' back.
        base_url=settings.base_url or OPENAI_BASE_URL,
        api_key=settings.api_key.get_secret_value() if settings.api_key else "not-needed",
        temperature=settings.temperature,
        timeout=settings.timeout_s,
        max_retries=0,  # retried here: Retry-After honoured, every try traced
    )


def make_chat_model(settings: LLMSettings) -> Any:
    """The configured LangChain chat model, or ``None`` for providers ``none`` and ``replay``.

    Raises ``ValueError`` naming the valid providers for an unknown one.
    """
    try:
        factory = _BACKENDS[settings.provider]
    except KeyError:
        raise ValueError(f"unknown LLM provider {settings.provider!r}; valid: {', '.join(sorted(_BACKENDS))}") from None
    return factory(settings)


def make_client(settings: LLMSettings, role: str, ledger: Ledger) -> LLMClient | None:
    """The client role ``role`` holds (its ``[llm.roles.<role>]`` overrides applied), or ``None`` for provider none."""
    if settings.provider == "none":
        return None
    effective = settings.for_role(role)
    return LLMClient(effective, role, ledger, chat_model=make_chat_model(effective))


# -- the client -----------------------------------------------------------------------------------
@dataclass
class _Failure:
    kind: str
    detail: str
    status: int | None = None
    retry_after: float | None = None


@dataclass
class _Read:
    """What the client took from an answer: its text, tool-call arguments, finish reason, model and usage."""

    content: str
    arguments: str | None
    finish_reason: str | None
    model: str | None
    usage: tuple[int, int] | None


def _first_difference(recorded: list[Message], now: list[Message]) -> str:
    """Where two prompts first differ, in a few words (for a diverged replay's message)."""
    if len(recorded) != len(now):
        return f"{len(now)} messages instead of the recorded {len(recorded)}"
    for index, (old, new) in enumerate(zip(recorded, now, strict=True)):
        if old == new:
            continue
        old_text, new_text = (str(m.get("content") or "") if isinstance(m, dict) else str(m) for m in (old, new))
        at = next(
            (i for i, (a, b) in enumerate(zip(old_text, new_text, strict=False)) if a != b),
            min(len(old_text), len(new_text)),
        )
        return (
            f"message {index + 1} from character {at}: recorded "
            f"{_short(old_text[at : at + 40], 40)!r}, now {_short(new_text[at : at + 40], 40)!r}"
        )
    return "the messages differ"


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue  # an HTTP date: fall back to the backoff
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        if body.get("message"):
            return str(body["message"])
    return str(getattr(exc, "message", None) or exc)


def _classify(exc: Exception, method: str, discovering: bool) -> _Failure:
    """What an exception from the chat model, or from reading its answer, means.

    Timeouts, refused connections and HTTP errors are named by their kind; anything else
    raised while the answer was fetched or read (a body that is JSON but no chat completion:
    ``{}``, ``{"choices": []}``, a ``null`` message; or no JSON at all) is a malformed answer,
    kind ``"server"``, tried again like a 5xx.
    """
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return _Failure("timeout", "no answer within the timeout")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        return _Failure("connection", f"connection failed ({cause or exc})")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = _error_message(exc)
        detail = f"HTTP {status}: {message}"
        structured = method != "text"
        if status == 429:
            return _Failure("rate_limit", detail, status, _retry_after(exc.response.headers))
        if structured and (status in (400, 422) or (discovering and status in (500, 501))):
            return _Failure(_UNSUPPORTED, detail, status)
        if status == 408:
            return _Failure("timeout", detail, status)
        if status == 409 or status >= 500:
            return _Failure("server", detail, status, _retry_after(exc.response.headers))
        return _Failure("refused", detail, status)
    if isinstance(exc, _Malformed):
        return _Failure("server", f"malformed answer: {exc}")
    # A 200 whose body is no chat completion: the client's parser or LangChain's fails on it.
    return _Failure("server", f"malformed answer: not a chat completion ({type(exc).__name__}: {exc})")


class _Malformed(ValueError):
    """An answer the client cannot read (the message says what is wrong with it)."""


def _short(text: str, limit: int = _DETAIL_CHARS) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return "" if content is None else str(content)


def _tool_arguments(message: Any) -> str | None:
    """The raw arguments of the message's first tool call, or ``None`` when it has none."""
    raw_calls = (getattr(message, "additional_kwargs", None) or {}).get("tool_calls") or []
    for call in raw_calls:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            return function["arguments"]
    for call in getattr(message, "tool_calls", None) or []:
        return json.dumps(call.get("args", {}))
    for call in getattr(message, "invalid_tool_calls", None) or []:
        if isinstance(call.get("args"), str):
            return call["args"]
    return None


def _usage(message: Any) -> tuple[int, int] | None:
    """The answer's (prompt, completion) token counts, or ``None`` when it reports no usable ones."""
    candidates = [
        (getattr(message, "usage_metadata", None), "input_tokens", "output_tokens"),
        ((getattr(message, "response_metadata", None) or {}).get("token_usage"), "prompt_tokens", "completion_tokens"),
    ]
    for usage, tokens_in, tokens_out in candidates:
        if not isinstance(usage, dict) or not usage:
            continue
        counts = (usage.get(tokens_in) or 0, usage.get(tokens_out) or 0)
        if counts == (0, 0):
            continue  # null or missing counts: no usage reported (every call has a prompt)
        if all(isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n) and n >= 0 for n in counts):
            return int(counts[0]), int(counts[1])
    return None


def _schema_name(schema: type[BaseModel]) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", schema.__name__)[:64] or "answer"


def _validation_problem(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors()[:8]:
        where = ".".join(str(p) for p in err["loc"]) or "(the object)"
        problems.append(f"{where}: {err['msg']}")
    return "the JSON does not match the schema: " + "; ".join(problems)


class LLMClient:
    """What a role holds as ``self.context.llm``: chat and structured calls through one run's ledger.

    ``settings`` are the role's effective settings (``LLMSettings.for_role``); ``model`` the
    model name; ``chat_model`` a LangChain chat model (``None`` with provider ``replay``).
    """

    def __init__(self, settings: LLMSettings, role: str, ledger: Ledger, chat_model: Any = None) -> None:
        self.settings = settings
        self.role = role
        self.model = settings.model
        self.ledger = ledger
        self._chat = chat_model
        secret = settings.api_key.get_secret_value() if settings.api_key else ""
        self._secret = secret if len(secret) >= 4 else ""

    def __repr__(self) -> str:
        return f"LLMClient(role={self.role!r}, model={self.model!r}, endpoint={self.endpoint!r})"

    @property
    def endpoint(self) -> str:
        """The base URL calls go to (``replay:DIR`` for provider replay)."""
        if self.settings.provider == "replay":
            return f"replay:{self.settings.replay_dir}"
        return self.settings.base_url or OPENAI_BASE_URL

    # -- public steps ---------------------------------------------------------------------
    def chat(
        self, messages: list[Message], *, candidate: str, attempt: int, purpose: str, max_tokens: int | None = None
    ) -> Reply:
        """One plain chat call; the reply's text has ``<think>`` blocks stripped.

        ``max_tokens`` caps the answer (default ``max_answer_tokens``). Raises
        :class:`LLMError` after the retries, :class:`LLMBudgetExhausted` when a budget is
        reached (before calling). A truncated answer is not an error: ``Reply.truncated``.
        """
        try:
            exchange = self._call(
                list(messages),
                candidate=candidate,
                attempt=attempt,
                purpose=purpose,
                method="text",
                max_tokens=max_tokens,
            )
        except LLMBudgetExhausted:
            raise
        except LLMError:
            self.ledger.note_failure()
            raise
        self.ledger.note_success()
        finish = exchange.finish_reason
        return Reply(strip_think(exchange.answer), finish, finish == "length", exchange)

    def structured(
        self, messages: list[Message], schema: type[BaseModel], *, candidate: str, attempt: int, purpose: str
    ) -> BaseModel:
        """An answer validated as ``schema``, by the best method the server accepts (see the module docstring).

        Raises ``LLMError(kind="bad_answer")`` when no reply validates after one re-ask,
        :class:`LLMError` of the service's kind after the retries, and
        :class:`LLMBudgetExhausted` when a budget is reached.
        """
        try:
            result = self._structured(list(messages), schema, candidate=candidate, attempt=attempt, purpose=purpose)
        except LLMBudgetExhausted:
            raise
        except LLMError:
            self.ledger.note_failure()
            raise
        self.ledger.note_success()
        return result

    def probe(self) -> None:
        """One minimal chat call (a few tokens), not recorded; raises :class:`LLMProbeError` with one clear line.

        An unreachable endpoint, a model the server refuses or a refused key is named with
        the base URL, the model and the fix. Provider ``replay`` has nothing to probe.
        ``/v1/models`` is not asked (llama.cpp's server answers under any model name). OpenAI's
        own API without a key is reported before any request. A 429 or 5xx is tried again
        while the waits add up to at most :data:`PROBE_WAIT_CAP_S` seconds (a ``Retry-After``
        longer than that is reported at once, with its value); an answer the client cannot
        read is reported like a failing server.
        """
        if self._chat is None:
            return
        if self.settings.api_key is None and self._is_openai():
            raise LLMProbeError(
                "refused",
                f"no API key: set OPENAI_API_KEY or FAIRNAD_LLM__API_KEY (OpenAI's API at {self.endpoint} needs one "
                f"for model {self.model!r}; for another server set --llm-base-url / llm.base_url)",
            )
        messages = [{"role": "user", "content": "Reply with the word OK."}]
        waited = 0.0
        tries = 0
        while True:
            tries += 1
            try:
                self._read(self._invoke(messages, {}, max_tokens=16))
                return
            except Exception as exc:
                failure = _classify(exc, "text", discovering=False)
            if failure.kind not in ("rate_limit", "server") or tries > self.settings.max_retries:
                break
            wait = self._wait(tries - 1, failure)
            if waited + wait > PROBE_WAIT_CAP_S:
                break  # a busy endpoint at start-up is reported now, not after minutes
            logger.info(
                "LLM probe of %s: %s; waiting %.1f s before trying again",
                self.endpoint,
                self._redact(failure.detail),
                wait,
            )
            _sleep(wait)
            waited += wait
        raise LLMProbeError(failure.kind, self._probe_line(failure, tries))

    # -- structured output ----------------------------------------------------------------
    def _structured(
        self, messages: list[Message], schema: type[BaseModel], *, candidate: str, attempt: int, purpose: str
    ) -> BaseModel:
        known = self.ledger.method
        start = next((i for i, name in enumerate(METHODS) if name == known), 0)
        methods = list(METHODS[start:])
        discovering = known is None
        index = 0
        conversation = messages
        reasked = False
        last_problem = ""
        while True:
            method = methods[index]
            try:
                exchange = self._call(
                    self._with_schema(conversation, schema, method),
                    candidate=candidate,
                    attempt=attempt,
                    purpose=purpose,
                    method=method,
                    schema=schema,
                    discovering=discovering,
                    fallback=methods[index + 1] if index + 1 < len(methods) else None,
                )
            except LLMError as exc:
                if exc.kind != _UNSUPPORTED:
                    raise
                if index + 1 < len(methods):
                    logger.info("%s: the server refused structured method %s; trying the next", self.role, method)
                    index += 1
                    continue
                raise LLMError("refused", str(exc)) from None
            data: dict[str, Any] | None
            try:
                data = extract_json(exchange.answer)
                problem = ""
            except AnswerError as exc:
                data, problem = None, str(exc)
            exchange.parsed = data
            if data is not None:
                if self.ledger.method is None and exchange.method in METHODS:
                    self.ledger.method = exchange.method
                try:
                    return schema.model_validate(data)
                except ValidationError as exc:
                    problem = _validation_problem(exc)
            elif discovering and index + 1 < len(methods) and not reasked:
                index += 1  # this method gives no JSON here (prose, null): the next one may
                continue
            if exchange.finish_reason == "length":
                problem += " (the answer was cut short at the token limit: answer more briefly)"
            last_problem = problem
            if reasked:
                break
            reasked = True
            conversation = [
                *messages,
                {"role": "assistant", "content": exchange.answer},
                {
                    "role": "user",
                    "content": f"Your answer could not be used: {problem}. Answer again with only one JSON object "
                    "that matches the schema, and nothing else.",
                },
            ]
        raise LLMError(
            "bad_answer",
            f"role {self.role} ({purpose}, candidate {candidate}): model {self.model!r} at {self.endpoint} gave no "
            f"valid {schema.__name__} after one re-ask: {last_problem}. A larger or instruction-tuned model, or a "
            "lower temperature, usually fixes this",
        )

    def _with_schema(self, messages: list[Message], schema: type[BaseModel], method: str) -> list[Message]:
        if method not in ("json_mode", "text"):
            return messages
        note = (
            "\n\nAnswer with only one JSON object (no prose, no code fence) that matches this JSON schema:\n"
            + json.dumps(schema.model_json_schema(), separators=(",", ":"))
        )
        out = [dict(m) for m in messages]
        if out and out[-1].get("role") == "user":
            out[-1]["content"] = out[-1]["content"] + note
        else:
            out.append({"role": "user", "content": note.strip()})
        return out

    @staticmethod
    def _method_kwargs(schema: type[BaseModel] | None, method: str) -> dict[str, Any]:
        if schema is None or method == "text":
            return {}
        json_schema = schema.model_json_schema()
        name = _schema_name(schema)
        if method == "json_schema":
            return {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": name, "schema": json_schema, "strict": False},
                }
            }
        if method == "function_calling":
            description = (schema.__doc__ or f"Give the {schema.__name__}.").strip().splitlines()[0]
            tool = {
                "type": "function",
                "function": {"name": name, "description": description, "parameters": json_schema},
            }
            return {"tools": [tool], "tool_choice": {"type": "function", "function": {"name": name}}}
        return {"response_format": {"type": "json_object"}}

    # -- one call -------------------------------------------------------------------------
    def _call(
        self,
        messages: list[Message],
        *,
        candidate: str,
        attempt: int,
        purpose: str,
        method: str,
        schema: type[BaseModel] | None = None,
        discovering: bool = False,
        max_tokens: int | None = None,
        fallback: str | None = None,
    ) -> Exchange:
        """One call (replayed when recorded), appended to the ledger; raises :class:`LLMError` when it fails.

        ``fallback`` is the structured-output method tried next when the server refuses ``method``.
        """
        self.ledger.check_budget()
        step = self.ledger.next_step(candidate, attempt, role=self.role)
        base = {
            "role": self.role,
            "candidate": candidate,
            "attempt": attempt,
            "step": step,
            "purpose": purpose,
            "messages": [dict(m) for m in messages],
        }
        recorded = self.ledger.recordings.get(candidate, attempt, self.role, step)
        if recorded is not None:
            return self._replay(recorded, base)
        if self._chat is None:
            exchange = Exchange(model=self.model, method=method, **base)
            exchange.error_kind = "replay"
            exchange.error = (
                f"no recorded exchange for candidate {candidate}, attempt {attempt}, role {self.role}, step {step} "
                f"in {self.endpoint}: the replayed run asked for a call the recorded run did not make (a change "
                "in settings or code since); replay the run with the settings and version it was recorded with"
            )
            exchange.attempts = 0
            self.ledger.record(exchange)
            raise LLMError("replay", exchange.error)
        return self._live(messages, base, method, schema, discovering, max_tokens, fallback)

    def _replay(self, recorded: Exchange, base: dict[str, Any]) -> Exchange:
        changed = recorded.messages != base["messages"]
        if changed and self.settings.provider == "replay":
            return self._diverged(recorded, base)
        exchange = Exchange.from_json(recorded.to_json())
        exchange.replayed = True
        exchange.prompt_changed = changed
        exchange.messages = base["messages"]
        exchange.purpose = base["purpose"]
        if exchange.prompt_changed:  # a resumed run's own record: its answer is kept
            logger.warning(
                "replayed %s step %s of candidate %s: the prompt differs from the recorded one; answered from the record",
                self.role,
                exchange.step,
                exchange.candidate,
            )
        self.ledger.record(exchange)
        if exchange.error_kind is not None:
            raise LLMError(exchange.error_kind, exchange.error or f"recorded failure ({exchange.error_kind})")
        return exchange

    def _diverged(self, recorded: Exchange, base: dict[str, Any]) -> Exchange:
        """A replay asked a prompt the recorded run did not: its recorded answer would be wrong, so the step fails."""
        exchange = Exchange(model=self.model, method=recorded.method, **base)
        exchange.replayed, exchange.prompt_changed, exchange.attempts = True, True, 0
        exchange.error_kind = "replay"
        exchange.error = (
            f"the replay diverged at candidate {base['candidate']}, attempt {base['attempt']}, step {base['step']} "
            f"(role {self.role}, {base['purpose']}): the prompt differs from the recorded one "
            f"({_first_difference(recorded.messages, base['messages'])}), so the recorded answer does not fit. "
            f"Likely cause: different code, settings or seed file than the run in {self.endpoint} was recorded "
            "with; replay with the same ones"
        )
        self.ledger.record(exchange)
        raise LLMError("replay", exchange.error)

    def _live(
        self,
        messages: list[Message],
        base: dict[str, Any],
        method: str,
        schema: type[BaseModel] | None,
        discovering: bool,
        max_tokens: int | None,
        fallback: str | None = None,
    ) -> Exchange:
        kwargs = self._method_kwargs(schema, method)
        limit = self._answer_limit(messages, max_tokens)
        tries: list[dict[str, Any]] = []
        attempts = 0
        step_started = _clock()
        while True:
            attempts += 1
            started = _clock()
            try:
                read = self._read(self._invoke(messages, kwargs, max_tokens=limit))
            except Exception as exc:
                failure = _classify(exc, method, discovering)
                seconds = _clock() - started
                failure.detail = _short(self._redact(failure.detail))
                retry = failure.kind in _RETRIED and attempts <= self.settings.max_retries
                wait = self._wait(attempts - 1, failure) if retry else 0.0
                tries.append(
                    {"kind": failure.kind, "detail": failure.detail, "seconds": round(seconds, 3), "wait_s": wait}
                )
                if not retry:
                    logger.info("%s: %s try %d failed: %s", self.role, base["purpose"], attempts, failure.detail)
                    break
                logger.info(
                    "%s: %s try %d failed: %s; waiting %.1f s before try %d of %d%s",
                    self.role,
                    base["purpose"],
                    attempts,
                    failure.detail,
                    wait,
                    attempts + 1,
                    self.settings.max_retries + 1,
                    self._wait_reason(failure),
                )
                _sleep(wait)
                continue
            return self._answered(read, base, method, messages, _clock() - step_started, attempts, tries)
        exchange = Exchange(model=self.model, method=method, **base)
        exchange.attempts, exchange.tries, exchange.error_kind = attempts, tries, failure.kind
        if failure.kind == _UNSUPPORTED:  # expected while the method is found: a note, not a fault
            then = f"trying {fallback}" if fallback else "no other method left"
            exchange.error = f"{method} not supported by this server (HTTP {failure.status}); {then}"
        else:
            exchange.error = self._failure_message(failure, base, attempts)
        exchange.latency_s = round(_clock() - step_started, 3)
        exchange.cost_usd = self._cost(0, 0)
        self.ledger.record(exchange)
        raise LLMError(failure.kind, exchange.error)

    @staticmethod
    def _read(message: Any) -> _Read:
        """What the client needs of an answer; raises :class:`_Malformed` when it cannot be read."""
        if message is None or not hasattr(message, "content"):
            raise _Malformed(f"no chat message in the answer (got {type(message).__name__})")
        content = _content_text(message.content)
        arguments = _tool_arguments(message)
        metadata = getattr(message, "response_metadata", None)
        if not isinstance(metadata, dict):
            metadata = {}
        finish = metadata.get("finish_reason")
        model = metadata.get("model_name")
        return _Read(
            content=content,
            arguments=arguments,
            finish_reason=finish if isinstance(finish, str) else None,
            model=model if isinstance(model, str) and model else None,
            usage=_usage(message),
        )

    def _answered(
        self,
        read: _Read,
        base: dict[str, Any],
        method: str,
        messages: list[Message],
        seconds: float,
        attempts: int,
        tries: list[dict[str, Any]],
    ) -> Exchange:
        usage = read.usage
        estimated = usage is None
        if usage is None:
            prompt_chars = sum(len(m.get("content") or "") for m in messages)
            usage = (math.ceil(prompt_chars / CHARS_PER_TOKEN), estimate_tokens(read.content + (read.arguments or "")))
        exchange = Exchange(model=read.model or self.model, method=method, **base)
        exchange.answer = read.arguments if read.arguments is not None else read.content
        exchange.finish_reason = read.finish_reason
        exchange.tokens_in, exchange.tokens_out = usage
        exchange.tokens_estimated = estimated
        exchange.latency_s = round(seconds, 3)
        exchange.cost_usd = self._cost(*usage)
        exchange.attempts, exchange.tries = attempts, tries
        self.ledger.record(exchange)
        return exchange

    def _invoke(self, messages: list[Message], kwargs: dict[str, Any], *, max_tokens: int) -> Any:
        """The chat model's answer (an ``AIMessage``); the request carries the answer limit and ``kwargs``.

        OpenAI's own API takes ``max_completion_tokens``; other servers get the older
        ``max_tokens`` that all of them read (llama.cpp's Python server ignores the newer name).
        ``response_format`` travels in the request body as given, so LangChain's parse path
        (which raises on a cut-short answer before its usage is read) is never taken.
        """
        body = dict(kwargs)
        bound: dict[str, Any] = {}
        if "tools" in body:
            bound["tools"] = body.pop("tools")
            bound["tool_choice"] = body.pop("tool_choice")
        if self._is_openai():
            bound["max_completion_tokens"] = max_tokens
        else:
            body["max_tokens"] = max_tokens
        if body:
            bound["extra_body"] = body
        return self._chat.bind(**bound).invoke(messages)

    def _is_openai(self) -> bool:
        return "api.openai.com" in (self.settings.base_url or OPENAI_BASE_URL)

    def _answer_limit(self, messages: Sequence[Message], max_tokens: int | None) -> int:
        wanted = max_tokens if max_tokens is not None else self.settings.max_answer_tokens
        prompt = math.ceil(sum(len(m.get("content") or "") for m in messages) / CHARS_PER_TOKEN)
        room = self.settings.context_tokens - prompt
        # Servers such as vLLM refuse prompt + max_tokens over the context: ask for what fits.
        return max(min(wanted, room), min(wanted, 256))

    def _wait(self, index: int, failure: _Failure) -> float:
        if failure.retry_after is not None:
            return min(failure.retry_after, BACKOFF_CAP_S)
        return min(self.settings.backoff_s * (2**index), BACKOFF_CAP_S)

    @staticmethod
    def _wait_reason(failure: _Failure) -> str:
        if failure.retry_after is None:
            return ""
        if failure.retry_after > BACKOFF_CAP_S:
            return f" (the server's Retry-After {failure.retry_after:g} s, capped at {BACKOFF_CAP_S:g} s)"
        return " (the server's Retry-After)"

    def _cost(self, tokens_in: int, tokens_out: int) -> float | None:
        price = self.settings.price(self.model)
        return None if price is None else price.cost(tokens_in, tokens_out)

    def _redact(self, text: str) -> str:
        if self._secret:
            text = text.replace(self._secret, "***")
        return re.sub(r"\bsk-[A-Za-z0-9_\-*]{4,}", "sk-***", text)

    # -- messages -------------------------------------------------------------------------
    def _failure_message(self, failure: _Failure, base: dict[str, Any], attempts: int) -> str:
        where = f"role {self.role} ({base['purpose']}, candidate {base['candidate']})"
        server = f"model {self.model!r} at {self.endpoint}"
        tries = f"{attempts} tr{'y' if attempts == 1 else 'ies'}"
        fixes = {
            "timeout": f"no answer within timeout_s = {self.settings.timeout_s:g} s per try; a small local model "
            "writing a whole file needs minutes: raise llm.timeout_s (FAIRNAD_LLM__TIMEOUT_S), or check the server",
            "connection": "cannot connect: start the server, or fix llm.base_url (--llm-base-url)",
            "rate_limit": "the server kept rate-limiting (HTTP 429): wait, or raise llm.max_retries / llm.backoff_s",
            "server": "the server kept failing: check its log; llm.max_retries sets how often a call is tried",
        }
        fix = fixes.get(failure.kind) or self._refusal_fix(failure)
        if failure.kind == "connection":
            fix = f"cannot connect: start the server, or fix {self._base_url_key()}"
        return self._redact(f"LLM call failed for {where}: {server}, {failure.detail}, after {tries}. {fix}")

    def _refusal_fix(self, failure: _Failure) -> str:
        if failure.status in (401, 403):
            if self.settings.api_key is None:
                return "the server needs an API key and none was given: set FAIRNAD_LLM__API_KEY (or OPENAI_API_KEY)"
            return "the server refused the API key: set FAIRNAD_LLM__API_KEY (or OPENAI_API_KEY) to a valid key"
        if failure.status == 404 and self._v1_hint():
            return self._v1_hint()
        if failure.status == 404:
            return f"the server does not serve model {self.model!r}: set {self._model_key()} to one it serves"
        if failure.kind == _UNSUPPORTED:
            return "the server refused this structured-output method"
        return "the server refused the request as sent (not retried); its message above says why"

    def _model_key(self) -> str:
        """The setting that chose this client's model, with the flag when the flag sets it."""
        key = self.settings.key_of("model")
        return key if key != "llm.model" else "--llm MODEL / llm.model"

    def _base_url_key(self) -> str:
        key = self.settings.key_of("base_url")
        return key if key != "llm.base_url" else "--llm-base-url / llm.base_url"

    def _v1_hint(self) -> str:
        """For a 404 from a base URL whose path does not end in ``/v1``: the URL to try instead ("" otherwise)."""
        url = self.settings.base_url
        if url is None or urlsplit(url).path.rstrip("/").endswith("/v1"):
            return ""
        return f"most OpenAI-compatible servers serve under /v1: try {url.rstrip('/')}/v1 (set {self._base_url_key()})"

    def _probe_line(self, failure: _Failure, tries: int = 1) -> str:
        url, model = self.endpoint, self.model
        detail = _short(self._redact(failure.detail))
        after = f" after {tries} tries" if tries > 1 else ""
        if failure.kind == "connection":
            return f"cannot reach the LLM server at {url} ({detail}): start it, or fix {self._base_url_key()}"
        if failure.kind == "timeout":
            return (
                f"the LLM server at {url} did not answer a one-word request for model {model!r} within "
                f"{self.settings.timeout_s:g} s: check that it is running, or raise {self.settings.key_of('timeout_s')}"
            )
        if failure.status == 429:
            wait = f", Retry-After {failure.retry_after:g} s" if failure.retry_after is not None else ""
            return (
                f"the LLM server at {url} answered a one-word request for model {model!r}{after} with: rate limited "
                f"(HTTP 429{wait}): the endpoint is busy or your quota is used up; try again later ({detail})"
            )
        if failure.status in (401, 403) and self.settings.api_key is None:
            return (
                f"the LLM server at {url} refused a request without a key ({detail}): the server needs an API key "
                "and none was given: set FAIRNAD_LLM__API_KEY (or OPENAI_API_KEY)"
            )
        if failure.status in (401, 403):
            return (
                f"the LLM server at {url} refused the API key ({detail}): set FAIRNAD_LLM__API_KEY "
                "(or OPENAI_API_KEY) to a key it accepts"
            )
        if failure.status == 404 and self._v1_hint():
            return f"the LLM server at {url} answered HTTP 404 ({detail}): {self._v1_hint()}"
        if failure.status == 404 or (failure.status == 400 and "model" in detail.lower()):
            return (
                f"the LLM server at {url} refused model {model!r} ({detail}): set {self._model_key()} to a "
                "model it serves"
            )
        if failure.status in (502, 503, 504, 529):
            return (
                f"the LLM server at {url} is overloaded or not ready for model {model!r} ({detail}){after}: "
                "try again later, or check the server"
            )
        return (
            f"the LLM server at {url} failed a one-word request for model {model!r} ({detail}){after}: check the server"
        )
