"""The LLM client against a scripted OpenAI-compatible server and scripted LangChain chat models.

Waits between tries are recorded, never slept (``agents.llm._sleep``), so no test depends on
the machine's speed; a slow answer is always far slower than the client's timeout.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, SecretStr, ValidationError

import agents.llm as llm
from agents.llm import (
    Exchange,
    Ledger,
    LLMBudgetExhausted,
    LLMClient,
    LLMError,
    LLMProbeError,
    Recordings,
    make_client,
)
from agents.settings import LLMSettings, MutationSettings, Price, api_key_from_env
from tests.llm_server import ScriptedLLMServer, answer, error, malformed, tool_answer

pytestmark = [pytest.mark.allow_hosts(["127.0.0.1"]), pytest.mark.timeout(30)]

USER = [{"role": "user", "content": "Choose a block for the next candidate."}]


class Choice(BaseModel):
    """The block to add and its width."""

    block: str
    width: int


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(llm, "_sleep", recorded.append)
    return recorded


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Waits recorded, never slept, and added to the client's clock: timings count them as spent."""
    recorded: list[float] = []
    monkeypatch.setattr(llm, "_sleep", recorded.append)
    monkeypatch.setattr(llm, "_clock", lambda: time.monotonic() + sum(recorded))
    return recorded


@pytest.fixture
def server():
    started: list[ScriptedLLMServer] = []

    def start(script: Any = None, **kwargs: Any) -> ScriptedLLMServer:
        srv = ScriptedLLMServer(script, **kwargs).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def client_for(srv: ScriptedLLMServer | str, role: str = "mutation", **settings: Any) -> LLMClient:
    base_url = srv if isinstance(srv, str) else srv.base_url
    s = LLMSettings(provider="openai", base_url=base_url, model=settings.pop("model", "coder"), **settings)
    client = make_client(s, role, Ledger(s))
    assert client is not None
    return client


def ask(client: LLMClient, candidate: str = "0001", attempt: int = 0) -> Any:
    return client.structured(USER, Choice, candidate=candidate, attempt=attempt, purpose="mutation.spec")


def chat(client: LLMClient, candidate: str = "0001", attempt: int = 0, **kwargs: Any) -> llm.Reply:
    return client.chat(USER, candidate=candidate, attempt=attempt, purpose="mutation.code", **kwargs)


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


GOOD = {"block": "sep_conv", "width": 64}


# -- structured output ------------------------------------------------------------------------
def test_llamacpp_500_for_json_schema_falls_back_to_a_forced_tool_call_and_is_remembered(server, waits):
    srv = server(
        [tool_answer("Choice", GOOD), tool_answer("Choice", {"block": "mlp", "width": 8})], reject_json_schema=True
    )
    client = client_for(srv)
    assert ask(client) == Choice(**GOOD)
    assert client.ledger.method == "function_calling"
    assert ask(client, candidate="0002") == Choice(block="mlp", width=8)

    bodies = srv.bodies()
    assert len(bodies) == 3  # the refused json_schema once, then the remembered method only
    assert bodies[0]["response_format"]["type"] == "json_schema"
    assert bodies[1]["tool_choice"] == {"type": "function", "function": {"name": "Choice"}}  # forced, by name
    assert "response_format" not in bodies[2] and bodies[2]["tools"][0]["function"]["name"] == "Choice"
    assert waits == []  # the 500 was read as a refusal, not retried as a transient fault
    first, second, third = client.ledger.drain()
    assert (first.method, first.error_kind, first.attempts) == ("json_schema", "unsupported", 1)
    # an expected refusal is a short note, not a fault: no "LLM call failed", no server internals
    assert first.error == "json_schema not supported by this server (HTTP 500); trying function_calling"
    assert (second.method, second.parsed, second.error) == ("function_calling", GOOD, None)
    assert (third.candidate, third.step) == ("0002", 0)


def test_prose_or_null_answers_move_to_the_next_method(server, waits):
    srv = server([answer("Sure! I would pick a separable convolution."), answer("null"), answer(json.dumps(GOOD))])
    client = client_for(srv)
    assert ask(client) == Choice(**GOOD)
    assert client.ledger.method == "json_mode"
    bodies = srv.bodies()
    assert [b.get("response_format", {}).get("type") for b in bodies] == ["json_schema", None, "json_object"]
    assert "tools" in bodies[1]
    assert '"width"' in bodies[2]["messages"][-1]["content"]  # json mode: the schema is described in the prompt
    assert [e.parsed for e in client.ledger.drain()] == [None, None, GOOD]


def test_every_refused_method_is_noted_with_the_method_tried_next(server, waits):
    def script(body: dict[str, Any]):
        if "response_format" in body or "tools" in body:
            return error(400, "unsupported parameter (see /srv/llama_cpp/server/app.py line 123)")
        return answer(json.dumps(GOOD))

    client = client_for(server(script))
    assert ask(client) == Choice(**GOOD)
    notes = [(e.error_kind, e.error) for e in client.ledger.drain()[:3]]
    assert notes == [
        ("unsupported", "json_schema not supported by this server (HTTP 400); trying function_calling"),
        ("unsupported", "function_calling not supported by this server (HTTP 400); trying json_mode"),
        ("unsupported", "json_mode not supported by this server (HTTP 400); trying text"),
    ]


def test_a_server_refusing_every_structured_method_gets_json_in_text(server, waits):
    def script(body: dict[str, Any]):
        if "response_format" in body or "tools" in body:
            return error(400, "unsupported parameter")
        return answer(f"Here it is:\n```json\n{json.dumps(GOOD)}\n```")

    srv = server(script)
    client = client_for(srv)
    assert ask(client) == Choice(**GOOD)
    assert client.ledger.method == "text"
    assert len(srv.bodies()) == 4 and waits == []
    assert "JSON schema" in srv.bodies()[3]["messages"][-1]["content"]


def test_a_validation_error_is_re_asked_once_with_the_error(server, waits):
    srv = server([answer(json.dumps({"block": "sep_conv", "width": "wide"})), answer(json.dumps(GOOD))])
    client = client_for(srv)
    assert ask(client) == Choice(**GOOD)
    reask = srv.bodies()[1]
    assert reask["response_format"]["type"] == "json_schema"  # the same method: it gave JSON
    assert reask["messages"][-2] == {"role": "assistant", "content": '{"block": "sep_conv", "width": "wide"}'}
    assert "width" in reask["messages"][-1]["content"] and "integer" in reask["messages"][-1]["content"]
    assert client.ledger.method == "json_schema" and client.ledger.consecutive_failures == 0


def test_a_second_invalid_answer_is_a_bad_answer(server, waits):
    srv = server([answer('{"block": "x"}'), answer('{"block": "x"}')])
    client = client_for(srv)
    with pytest.raises(LLMError) as info:
        ask(client)
    assert info.value.kind == "bad_answer"
    assert "Choice" in str(info.value) and "width" in str(info.value) and srv.base_url in str(info.value)
    assert len(srv.bodies()) == 2
    assert client.ledger.consecutive_failures == 1
    assert client.ledger.calls == 2


def test_think_blocks_are_stripped_before_json_and_text(server, waits):
    srv = server([answer("<think>width 64 looks right</think>" + json.dumps(GOOD)), answer("<think>a</think>code")])
    client = client_for(srv)
    assert ask(client) == Choice(**GOOD)
    reply = chat(client)
    assert reply.text == "code"
    assert reply.exchange.answer == "<think>a</think>code"  # recorded as sent; its tokens count


# -- retries ----------------------------------------------------------------------------------
def test_429_retry_after_is_honoured_and_every_try_traced(server, waits):
    srv = server([error(429, headers={"Retry-After": "7"}), answer("ok")])
    client = client_for(srv, backoff_s=1)
    reply = chat(client)
    assert reply.text == "ok"
    assert waits == [7.0]
    assert reply.exchange.attempts == 2
    assert [t["kind"] for t in reply.exchange.tries] == ["rate_limit"]


def test_retry_after_is_capped(server, waits):
    srv = server([error(429, headers={"Retry-After": "3600"}), answer("ok")])
    chat(client_for(srv))
    assert waits == [60.0]


def test_5xx_and_malformed_bodies_back_off_exponentially(server, waits):
    srv = server([error(500), error(503), malformed(), answer("ok")])
    reply = chat(client_for(srv, backoff_s=1.5))
    assert reply.text == "ok"
    assert waits == [1.5, 3.0, 6.0]
    assert [t["kind"] for t in reply.exchange.tries] == ["server", "server", "server"]


NOT_A_COMPLETION = [
    '{"choices": []}',
    "{}",
    '{"choices": [{}]}',
    '{"choices": [{"message": null}]}',
    '{"choices": [{"message": "hi"}]}',
    '{"choices": null}',
    '{"choices": [null]}',
    '{"choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [null]}}]}',
    '{"choices": [{"message": {"role": "assistant", "content": null, "tool_calls": 7}}]}',
    "[]",
    "null",
    '"text"',
    "",
    "not JSON {",
]


@pytest.mark.parametrize("body", NOT_A_COMPLETION)
def test_an_answer_that_is_no_chat_completion_is_a_retried_server_failure(server, waits, body):
    srv = server([malformed(body), answer("ok")])
    client = client_for(srv, backoff_s=1)
    reply = chat(client)
    assert reply.text == "ok" and waits == [1.0]
    (failed,) = reply.exchange.tries
    assert failed["kind"] == "server" and failed["detail"].startswith("malformed answer: ")


@pytest.mark.parametrize("body", NOT_A_COMPLETION)
def test_only_llm_errors_leave_chat_structured_and_probe(server, waits, body):
    srv = server(default=malformed(body))
    client = client_for(srv, max_retries=1, backoff_s=1)
    with pytest.raises(LLMError) as info:
        chat(client)
    assert info.value.kind == "server" and "malformed answer: " in str(info.value) and "2 tries" in str(info.value)
    (exchange,) = client.ledger.drain()
    assert exchange.error_kind == "server" and [t["kind"] for t in exchange.tries] == ["server", "server"]
    with pytest.raises(LLMError) as info:
        ask(client)
    assert info.value.kind == "server"
    with pytest.raises(LLMProbeError) as probed:
        client.probe()
    assert (
        "\n" not in str(probed.value)
        and "malformed answer: " in str(probed.value)
        and srv.base_url in str(probed.value)
    )


def test_null_or_empty_usage_is_estimated(server, waits):
    srv = server([answer("ok", usage={"prompt_tokens": None, "completion_tokens": None}), answer("ok", usage={})])
    client = client_for(srv)
    assert chat(client).exchange.tokens_estimated
    assert chat(client).exchange.tokens_estimated


def test_a_failed_step_records_its_whole_time_tries_and_waits_included(server, clock):
    srv = server([error(503, headers={"Retry-After": "5"}), error(503), error(503)])
    client = client_for(srv, max_retries=2, backoff_s=2)
    with pytest.raises(LLMError):
        chat(client)
    (exchange,) = client.ledger.drain()
    assert clock == [5.0, 4.0]
    assert [t["wait_s"] for t in exchange.tries] == [5.0, 4.0, 0.0]
    assert exchange.latency_s >= 9.0  # both waits, and the three tries
    assert exchange.latency_s >= sum(t["seconds"] for t in exchange.tries) + 9.0 - 0.01
    assert all(0 <= t["seconds"] < 9.0 for t in exchange.tries)  # each try keeps its own seconds


def test_an_answered_step_records_its_whole_time_too(server, clock):
    srv = server([error(429, headers={"Retry-After": "7"}), answer("ok")])
    exchange = chat(client_for(srv)).exchange
    assert clock == [7.0] and exchange.latency_s >= 7.0 and exchange.tries[0]["seconds"] < 7.0


def test_each_wait_of_a_run_is_logged(server, waits, caplog):
    srv = server([error(429, headers={"Retry-After": "600"}), error(429, headers={"Retry-After": "3"}), answer("ok")])
    with caplog.at_level(logging.INFO, logger="agents.llm"):
        chat(client_for(srv))
    assert waits == [60.0, 3.0]  # honoured, capped as before
    logged = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
    assert len(logged) == 2
    assert "waiting 60.0 s before try 2 of 4 (the server's Retry-After 600 s, capped at 60 s)" in logged[0]
    assert "waiting 3.0 s before try 3 of 4 (the server's Retry-After)" in logged[1]


def test_the_step_fails_after_its_retries_with_a_clear_message(server, waits):
    srv = server([error(502, "bad gateway")] * 5)
    client = client_for(srv, max_retries=2, backoff_s=2)
    with pytest.raises(LLMError) as info:
        chat(client)
    assert info.value.kind == "server"
    message = str(info.value)
    assert srv.base_url in message and "'coder'" in message and "3 tries" in message and "max_retries" in message
    assert waits == [2.0, 4.0]
    (exchange,) = client.ledger.drain()
    assert exchange.error == message and exchange.attempts == 3 and exchange.tokens_in == 0
    assert client.ledger.consecutive_failures == 1 and not client.ledger.failures_exhausted


@pytest.mark.parametrize(("status", "fix"), [(401, "FAIRNAD_LLM__API_KEY"), (404, "llm.model"), (400, "not retried")])
def test_client_errors_are_not_retried(server, waits, status, fix):
    srv = server([error(status)] * 3)
    with pytest.raises(LLMError) as info:
        chat(client_for(srv))
    assert info.value.kind == "refused" and fix in str(info.value)
    assert len(srv.bodies()) == 1 and waits == []


def test_a_slow_server_times_out_and_is_retried(server, waits):
    srv = server([answer("late", delay_s=20), answer("late", delay_s=20)])
    client = client_for(srv, timeout_s=0.3, max_retries=1, backoff_s=1)
    with pytest.raises(LLMError) as info:
        chat(client)
    assert info.value.kind == "timeout" and "timeout_s" in str(info.value)
    assert waits == [1.0]


def test_a_refused_connection_is_retried_then_fails(waits):
    client = client_for(f"http://127.0.0.1:{unused_port()}/v1", max_retries=1, backoff_s=0.5)
    with pytest.raises(LLMError) as info:
        chat(client)
    assert info.value.kind == "connection" and "base_url" in str(info.value)
    assert waits == [0.5]


def test_consecutive_failures_reset_on_success(server, waits):
    srv = server([error(404), error(404), answer("ok"), error(404)])
    client = client_for(srv, max_consecutive_failures=2)
    for _ in range(2):
        with pytest.raises(LLMError):
            chat(client)
    assert client.ledger.failures_exhausted
    chat(client)
    assert client.ledger.consecutive_failures == 0


# -- probe ------------------------------------------------------------------------------------
def test_probe_is_one_small_chat_call(server, waits):
    srv = server([answer("OK")])
    client = client_for(srv)
    client.probe()
    (body,) = srv.bodies()
    assert body["max_tokens"] == 16 and srv.requests[0]["path"] == "/v1/chat/completions"
    assert client.ledger.drain() == [] and client.ledger.calls == 0


def test_probe_names_an_unreachable_endpoint(waits):
    url = f"http://127.0.0.1:{unused_port()}/v1"
    with pytest.raises(LLMProbeError) as info:
        client_for(url).probe()
    message = str(info.value)
    assert "\n" not in message and url in message and "start it" in message and info.value.kind == "connection"
    assert waits == []  # an unreachable server is said at once


def test_probe_names_a_refused_model(server, waits):
    srv = server([answer("OK")], models=["qwen"])
    with pytest.raises(LLMProbeError) as info:
        client_for(srv, model="gpt-9").probe()
    assert "'gpt-9'" in str(info.value) and srv.base_url in str(info.value) and "--llm MODEL" in str(info.value)


def test_probe_reports_a_rate_limit_at_once_with_its_retry_after(server, waits):
    srv = server(default=error(429, "Rate limit reached", headers={"Retry-After": "600"}))
    with pytest.raises(LLMProbeError) as info:
        client_for(srv).probe()
    message = str(info.value)
    assert waits == [] and len(srv.bodies()) == 1
    assert (
        "rate limited (HTTP 429, Retry-After 600 s): the endpoint is busy or your quota is used up; try again later"
        in message
    )
    assert "\n" not in message and srv.base_url in message and info.value.kind == "rate_limit"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_probe_waits_at_most_about_ten_seconds_in_all(server, waits, status):
    srv = server(default=error(status))
    with pytest.raises(LLMProbeError) as info:
        client_for(srv, max_retries=10, backoff_s=2).probe()
    assert waits == [2.0, 4.0] and sum(waits) <= llm.PROBE_WAIT_CAP_S
    assert len(srv.bodies()) == 3 and "after 3 tries" in str(info.value)


def test_probe_tries_again_after_a_short_retry_after(server, waits):
    srv = server([error(429, headers={"Retry-After": "3"}), answer("OK")])
    client_for(srv).probe()
    assert waits == [3.0]


def test_a_base_url_without_a_scheme_is_a_settings_error():
    with pytest.raises(ValidationError) as info:
        LLMSettings(provider="openai", base_url="127.0.0.1:8077/v1")
    (err,) = info.value.errors()
    assert err["msg"] == "base_url must start with http:// or https://: try http://127.0.0.1:8077/v1"
    with pytest.raises(ValidationError, match="must start with http"):
        LLMSettings(roles={"mutation": {"base_url": "localhost:8000/v1"}})
    assert LLMSettings(base_url="https://example.org/v1").base_url == "https://example.org/v1"


def test_probe_suggests_v1_for_a_404_from_a_base_url_without_it(server, waits):
    srv = server([answer("OK")])
    bare = f"http://127.0.0.1:{srv.port}"
    with pytest.raises(LLMProbeError) as info:
        client_for(bare).probe()
    message = str(info.value)
    assert f"most OpenAI-compatible servers serve under /v1: try {bare}/v1" in message and "\n" not in message
    with pytest.raises(LLMError) as during_run:
        chat(client_for(bare + "/"))
    assert f"try {bare}/v1" in str(during_run.value)


def test_probe_without_a_key_for_openai_itself_fails_before_any_request():
    model = ScriptedChat(replies=[AIMessage(content="OK")])
    s = LLMSettings(provider="openai", model="gpt-4o-mini")
    with pytest.raises(LLMProbeError) as info:
        LLMClient(s, "mutation", Ledger(s), chat_model=model).probe()
    assert "no API key: set OPENAI_API_KEY or FAIRNAD_LLM__API_KEY" in str(info.value)
    assert model.kwargs == [] and model.replies  # nothing was sent
    keyed = LLMSettings(provider="openai", model="gpt-4o-mini", api_key=SecretStr("sk-test-abcdefgh"))
    LLMClient(keyed, "mutation", Ledger(keyed), chat_model=model).probe()


def test_a_401_without_a_key_says_one_is_needed(server, waits):
    srv = server(default=answer("OK"), api_key="the-right-key")
    with pytest.raises(LLMProbeError) as info:
        client_for(srv).probe()
    message = str(info.value)
    assert "the server needs an API key and none was given: set FAIRNAD_LLM__API_KEY" in message
    assert "refused the API key" not in message
    with pytest.raises(LLMError) as during_run:
        chat(client_for(srv))
    assert "needs an API key and none was given" in str(during_run.value)
    client_for(srv, api_key=SecretStr("the-right-key")).probe()


def test_a_refused_role_model_names_the_role_setting(server, waits):
    srv = server(default=answer("OK"), models=["qwen"])
    s = LLMSettings(provider="openai", base_url=srv.base_url, model="qwen", roles={"mutation": {"model": "gpt-9"}})
    client = make_client(s.for_role("mutation"), "mutation", Ledger(s))  # as the graph calls it
    assert client is not None
    with pytest.raises(LLMProbeError) as info:
        client.probe()
    assert "'gpt-9'" in str(info.value) and "set llm.roles.mutation.model to a model it serves" in str(info.value)
    with pytest.raises(LLMError) as during_run:
        chat(client)
    assert "llm.roles.mutation.model" in str(during_run.value)
    feedback = make_client(LLMSettings(provider="openai", base_url=srv.base_url, model="gpt-8"), "feedback", Ledger(s))
    assert feedback is not None
    with pytest.raises(LLMProbeError, match="--llm MODEL / llm.model"):
        feedback.probe()
    assert s.for_role("mutation").key_of("base_url") == "llm.base_url" and s.key_of("model") == "llm.model"


def test_probe_names_a_refused_key_without_showing_it(server, waits):
    key = "sk-proj-abcdefghijklmnop"
    srv = server(lambda body: error(401, f"Incorrect API key provided: {key}"))
    client = client_for(srv, api_key=SecretStr(key))
    with pytest.raises(LLMProbeError) as info:
        client.probe()
    assert "FAIRNAD_LLM__API_KEY" in str(info.value) and key not in str(info.value)
    assert srv.requests[0]["headers"]["authorization"] == f"Bearer {key}"  # the key is used, never shown


# -- tokens and cost --------------------------------------------------------------------------
def test_usage_from_the_server_and_cost_from_the_price_table(server, waits):
    srv = server([answer("x", usage={"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200})])
    client = client_for(srv, prices={"coder": Price(input=1.0, output=4.0)})
    exchange = chat(client).exchange
    assert (exchange.tokens_in, exchange.tokens_out, exchange.tokens_estimated) == (1000, 200, False)
    assert exchange.cost_usd == pytest.approx((1000 * 1.0 + 200 * 4.0) / 1e6)
    assert client.ledger.cost_usd == pytest.approx(exchange.cost_usd)
    assert exchange.latency_s >= 0


def test_missing_usage_is_estimated_and_thinking_counts(server, waits):
    content = "<think>" + "t" * 70 + "</think>" + "a" * 35
    srv = server([answer(content, usage=None)])
    client = client_for(srv)
    exchange = chat(client).exchange
    assert exchange.tokens_estimated
    assert exchange.tokens_out == math.ceil(len(content) / 3.5)
    assert exchange.tokens_in == math.ceil(len(USER[0]["content"]) / 3.5)


def test_an_unknown_price_is_not_reported_never_zero(server, waits):
    srv = server([answer("x"), answer("y")])
    client = client_for(srv, prices={"other-model": Price(input=1, output=1)})
    assert chat(client).exchange.cost_usd is None
    assert client.ledger.cost_usd is None
    assert client.ledger.tokens > 0


def test_a_cut_short_answer_is_reported_as_truncated(server, waits):
    srv = server([answer("def build_model(", finish_reason="length")])
    reply = chat(client_for(srv), max_tokens=64)
    assert reply.truncated and reply.finish_reason == "length"
    assert srv.bodies()[0]["max_tokens"] == 64


def test_openai_itself_gets_max_completion_tokens():
    model = ScriptedChat(replies=[AIMessage(content="ok")])
    s = LLMSettings(provider="openai", model="gpt-4o-mini")
    LLMClient(s, "mutation", Ledger(s), chat_model=model).chat(USER, candidate="1", attempt=0, purpose="p")
    assert model.kwargs[0]["max_completion_tokens"] == s.max_answer_tokens


# -- budgets ----------------------------------------------------------------------------------
def test_max_llm_calls_stops_before_calling(server, waits):
    srv = server([answer("a"), answer("b"), answer("c")])
    client = client_for(srv, max_llm_calls=2)
    chat(client)
    chat(client)
    with pytest.raises(LLMBudgetExhausted) as info:
        chat(client)
    message = str(info.value)
    assert info.value.kind == "budget" and "llm.max_llm_calls = 2" in message and "2 calls" in message
    assert "resume" in message and "--max-llm-calls" in message
    assert len(srv.bodies()) == 2 and client.ledger.consecutive_failures == 0


def test_max_tokens_and_max_cost_budgets(server, waits):
    usage = {"prompt_tokens": 600, "completion_tokens": 500, "total_tokens": 1100}
    srv = server([answer("a", usage=usage), answer("b", usage=usage)])
    client = client_for(srv, max_tokens=1000)
    chat(client)
    with pytest.raises(LLMBudgetExhausted, match="max_tokens = 1000"):
        chat(client)
    priced = client_for(srv, max_cost_usd=0.001, prices={"coder": Price(input=1, output=1)})
    chat(priced)
    with pytest.raises(LLMBudgetExhausted, match="max_cost_usd"):
        chat(priced)


def test_the_call_that_crosses_a_budget_completes(server, waits):
    srv = server(default=answer("a", usage={"prompt_tokens": 600, "completion_tokens": 500, "total_tokens": 1100}))
    client = client_for(srv, max_tokens=10)
    chat(client)  # checked before the call: 0 < 10, so it runs and ends at 1,100
    assert client.ledger.tokens == 1100
    with pytest.raises(LLMBudgetExhausted):
        chat(client)
    for name in ("max_llm_calls", "max_tokens", "max_cost_usd"):
        assert "checked before each call" in (LLMSettings.model_fields[name].description or "")
    assert "crosses it completes" in (LLMSettings.model_fields["max_tokens"].description or "")


def test_a_cost_budget_needs_a_price_for_every_model():
    with pytest.raises(ValidationError, match="no price") as info:
        LLMSettings(provider="openai", model="m", max_cost_usd=1.0)
    assert info.value.errors()[0]["msg"].startswith("max_cost_usd is set but model(s) 'm' have no price")
    for bad in ({"provider": "replay"}, {"max_answer_tokens": 9000}, {"roles": {"r": {"max_answer_tokens": 9000}}}):
        with pytest.raises(ValidationError) as info:
            LLMSettings(**bad)
        assert not info.value.errors()[0]["msg"].startswith("Value error")
    LLMSettings(provider="openai", model="m", max_cost_usd=1.0, prices={"m": Price(input=1, output=2)})


# -- recording and replay ---------------------------------------------------------------------
def write_run(run_dir: Path, exchanges: list[Exchange]) -> None:
    for number, exchange in enumerate(exchanges):
        folder = run_dir / "candidates" / exchange.candidate / "llm"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{number:02d}-{exchange.role}.json").write_text(json.dumps(exchange.to_json()))


def test_replay_answers_from_the_recording_without_a_server(server, waits, tmp_path):
    srv = server([tool_answer("Choice", GOOD), answer("the code")], reject_json_schema=True)
    live = client_for(srv)
    assert ask(live) == Choice(**GOOD)
    assert chat(live).text == "the code"
    recorded = live.ledger.drain()
    write_run(tmp_path, recorded)

    settings = LLMSettings(provider="replay", replay_dir=tmp_path, model="coder")
    replay = make_client(settings, "mutation", Ledger(settings))
    assert replay is not None
    assert ask(replay) == Choice(**GOOD)  # the refused json_schema is replayed as refused, then the tool call
    assert replay.ledger.method == "function_calling"
    assert chat(replay).text == "the code"
    replayed = replay.ledger.drain()
    assert [e.replayed for e in replayed] == [True, True, True]
    assert [(e.tokens_in, e.tokens_out) for e in replayed] == [(e.tokens_in, e.tokens_out) for e in recorded]
    assert replay.ledger.tokens == sum(e.tokens_in + e.tokens_out for e in recorded)
    assert not any(e.prompt_changed for e in replayed)
    assert len(srv.bodies()) == 3  # nothing more reached the server

    with pytest.raises(LLMError) as info:
        chat(replay)
    assert info.value.kind == "replay"
    assert "candidate 0001, attempt 0, role mutation, step 3" in str(info.value)


def test_a_changed_prompt_stops_a_replay(tmp_path):
    exchange = Exchange("mutation", "0001", 0, 0, "mutation.code", "coder", "text", USER, answer="old answer")
    write_run(tmp_path, [exchange])
    settings = LLMSettings(provider="replay", replay_dir=tmp_path)
    client = make_client(settings, "mutation", Ledger(settings))
    assert client is not None
    with pytest.raises(LLMError) as info:
        client.chat([{"role": "user", "content": "Choose a layer."}], candidate="0001", attempt=0, purpose="p")
    message = str(info.value)
    assert info.value.kind == "replay" and "\n" not in message
    assert "the replay diverged at candidate 0001, attempt 0, step 0" in message
    assert "different code, settings or seed file" in message and "old answer" not in message
    assert "from character 9" in message  # where the prompts part
    (recorded,) = client.ledger.drain()
    assert (recorded.error_kind, recorded.prompt_changed, recorded.answer) == ("replay", True, "")
    assert client.ledger.consecutive_failures == 1


def test_a_changed_prompt_on_a_resume_is_answered_and_marked(server, waits, tmp_path):
    exchange = Exchange("mutation", "0001", 0, 0, "mutation.code", "coder", "text", USER, answer="old answer")
    write_run(tmp_path, [exchange])
    srv = server([answer("live")])
    settings = LLMSettings(provider="openai", base_url=srv.base_url, model="coder")
    client = make_client(settings, "mutation", Ledger(settings, Recordings.from_run_dir(tmp_path)))
    assert client is not None
    reply = client.chat([{"role": "user", "content": "another prompt"}], candidate="0001", attempt=0, purpose="p")
    assert reply.text == "old answer" and reply.exchange.prompt_changed and reply.exchange.replayed
    assert reply.exchange.messages == [{"role": "user", "content": "another prompt"}]
    assert srv.bodies() == []


def test_a_resumed_run_counts_its_stored_exchanges_once(server, waits, tmp_path):
    stored = [
        Exchange("mutation", "0001", 0, step, "p", "coder", "text", USER, answer=f"a{step}", tokens_in=10, tokens_out=5)
        for step in range(2)
    ]
    write_run(tmp_path, stored)
    srv = server([answer("live", usage={"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10})])
    settings = LLMSettings(provider="openai", base_url=srv.base_url, model="coder")
    recordings = Recordings.from_run_dir(tmp_path)
    ledger = Ledger(settings, recordings)
    ledger.add_existing(recordings.exchanges())
    assert (ledger.calls, ledger.tokens) == (2, 30)
    client = make_client(settings, "mutation", ledger)
    assert client is not None
    assert [chat(client).text for _ in range(3)] == ["a0", "a1", "live"]  # finished calls are not repeated
    assert (ledger.calls, ledger.tokens) == (3, 40)  # only the new call is added
    assert len(srv.bodies()) == 1


def test_a_recorded_failure_is_replayed_as_the_same_failure(tmp_path):
    failed = Exchange("mutation", "0001", 0, 0, "p", "coder", "text", USER, error="HTTP 503", error_kind="server")
    write_run(tmp_path, [failed])
    settings = LLMSettings(provider="replay", replay_dir=tmp_path)
    client = make_client(settings, "mutation", Ledger(settings))
    assert client is not None
    with pytest.raises(LLMError) as info:
        client.chat(USER, candidate="0001", attempt=0, purpose="p")
    assert info.value.kind == "server"


def test_a_broken_recording_is_named(tmp_path):
    folder = tmp_path / "candidates" / "0001" / "llm"
    folder.mkdir(parents=True)
    (folder / "00-mutation.json").write_text("{")
    with pytest.raises(ValueError, match="00-mutation.json"):
        Recordings.from_run_dir(tmp_path)


def test_exchange_json_round_trip():
    exchange = Exchange("mutation", "0001", 1, 2, "p", "m", "json_mode", USER, answer="{}", parsed={}, cost_usd=None)
    assert Exchange.from_json(json.loads(json.dumps(exchange.to_json()))) == exchange


# -- secrets ----------------------------------------------------------------------------------
def test_the_key_is_in_no_exchange_error_or_repr(server, waits):
    key = "sk-test-0123456789abcdef"
    srv = server([error(401, f"Incorrect API key provided: {key}."), answer("ok")])
    client = client_for(srv, api_key=SecretStr(key))
    with pytest.raises(LLMError) as info:
        chat(client)
    chat(client)
    dumped = json.dumps([e.to_json() for e in client.ledger.drain()])
    for text in (dumped, str(info.value), repr(client), repr(client.settings)):
        assert key not in text and "0123456789abcdef" not in text


# -- settings ---------------------------------------------------------------------------------
def test_role_overrides_and_the_key_variables():
    s = LLMSettings(provider="openai", model="big", roles={"mutation": {"model": "coder", "timeout_s": 900}})
    assert (s.for_role("mutation").model, s.for_role("mutation").timeout_s) == ("coder", 900)
    assert s.for_role("feedback") is s
    assert s.models() == ["big", "coder"]
    assert api_key_from_env({"FAIRNAD_LLM__API_KEY": "a", "OPENAI_API_KEY": "b"}) == "a"
    assert api_key_from_env({"fairnad_llm__api_key": "", "OPENAI_API_KEY": "b"}) == "b"
    assert api_key_from_env({}) is None
    with pytest.raises(ValidationError, match="replay_dir"):
        LLMSettings(provider="replay")
    with pytest.raises(ValidationError):
        LLMSettings(roles={"mutation": {"api_key": "x"}})
    assert MutationSettings().mode == "auto" and MutationSettings().spec_choices == 6
    assert make_client(LLMSettings(), "mutation", Ledger(LLMSettings())) is None


# -- scripted LangChain chat models -----------------------------------------------------------
class ScriptedChat(BaseChatModel):
    """A chat model that answers from a list (messages or exceptions) and records each call's kwargs."""

    replies: list[Any]
    kwargs: list[dict[str, Any]] = []

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any):
        self.kwargs.append(kwargs)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return ChatResult(generations=[ChatGeneration(message=reply)])


def test_scripted_model_timeouts_are_retried_and_token_usage_read(waits):
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    reply = AIMessage(
        content=[{"type": "text", "text": "done"}],
        response_metadata={"finish_reason": "stop", "token_usage": {"prompt_tokens": 12, "completion_tokens": 3}},
    )
    model = ScriptedChat(replies=[openai.APITimeoutError(request=request), reply])
    s = LLMSettings(provider="openai", base_url="http://127.0.0.1:1/v1", model="m", backoff_s=0.25)
    client = LLMClient(s, "mutation", Ledger(s), chat_model=model)
    result = chat(client)
    assert result.text == "done" and waits == [0.25]
    assert (result.exchange.tokens_in, result.exchange.tokens_out, result.exchange.tokens_estimated) == (12, 3, False)
    assert model.kwargs[-1]["extra_body"] == {"max_tokens": s.max_answer_tokens}


# -- the scripted server as a process ---------------------------------------------------------
def test_the_scripted_server_runs_as_a_process(tmp_path, waits):
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"responses": [{"content": "from a process"}], "reject_json_schema": True}))
    port_file, log = tmp_path / "port", tmp_path / "requests.jsonl"
    server_py = Path(__file__).with_name("llm_server.py")
    cmd = [sys.executable, str(server_py), "--script", str(script), "--port-file", str(port_file), "--log", str(log)]
    process = subprocess.Popen(cmd)
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        port = int(port_file.read_text())
        assert chat(client_for(f"http://127.0.0.1:{port}/v1")).text == "from a process"
        assert json.loads(log.read_text().splitlines()[0])["body"]["model"] == "coder"
    finally:
        process.terminate()
        process.wait(timeout=10)
