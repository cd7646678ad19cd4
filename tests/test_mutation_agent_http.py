"""The mutation agent through the real LLM client against the scripted OpenAI-compatible server.

``tests/test_mutation_agent.py`` checks prompts and parsing with an in-process script; these
tests run the same agent over HTTP, as a run does, with the answers real servers give: edits
that do not apply, a llama.cpp-like server that refuses JSON-schema requests, reasoning
blocks, unchanged code, and a server that keeps failing.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from agents.base import RoleContext
from agents.llm import Ledger, LLMError, make_client
from agents.mutation import MutationAgent
from agents.records import MutationRequest
from agents.settings import LLMSettings
from fairnad_tools.spaces import make_space
from tests.llm_server import ScriptedLLMServer, answer, error, tool_answer

pytestmark = [pytest.mark.allow_hosts(["127.0.0.1"]), pytest.mark.timeout(120)]

SPACE = make_space("open")
SEED = SPACE.seed("resnet32", (3, 16, 16))
PARENT = SPACE.render(SEED)
OLD, NEW = "act=nn.ReLU, tail=nn.Identity", "act=nn.GELU, tail=nn.Identity"
assert OLD in PARENT


def agent(server: ScriptedLLMServer, mode: str, **llm: Any) -> tuple[MutationAgent, Ledger]:
    settings = LLMSettings(provider="openai", model="scripted", base_url=server.base_url, backoff_s=0.01, **llm)
    ledger = Ledger(settings)
    client = make_client(settings, "mutation", ledger)
    config = SimpleNamespace(mutation=SimpleNamespace(mode=mode, spec_choices=4), verify=SimpleNamespace(min_layers=3))
    return MutationAgent(RoleContext(settings=config, llm=client, space=SPACE)), ledger


def request(kind: str = "fair_idea", spec: bool = True) -> MutationRequest:
    return MutationRequest(
        candidate_id="0005",
        mutation_type=kind,
        parent_id="0000",
        parent_spec=SPACE.dump(SEED) if spec else None,
        parent_source=PARENT,
        parent_params=464_154,
        parent_flops=17_281_664,
        idea="gelu-1",
        idea_title="GELU activations",
        idea_description="Replace ReLU by GELU in every block.",
        sub_category="operation.activation.gelu",
        input_shape=(3, 16, 16),
        max_flops=50_000_000,
    )


def user_text(server: ScriptedLLMServer, index: int) -> str:
    return "\n".join(m["content"] for m in server.bodies()[index]["messages"])


def test_diff_that_does_not_apply_is_asked_again_with_the_reason():
    wrong = "<<<<<<< SEARCH\nact=nn.Tanh, tail=nn.Identity\n=======\nact=nn.GELU, tail=nn.Identity\n>>>>>>> REPLACE\n"
    right = f"```\n<<<<<<< SEARCH\n{OLD}\n=======\n{NEW}\n>>>>>>> REPLACE\n```\n"
    with ScriptedLLMServer([answer(wrong), answer(right)]) as server:
        role, ledger = agent(server, "diff")
        result = role.mutate(request(spec=False))
    assert result.mode == "diff" and NEW in result.source and result.source.replace(NEW, OLD) == PARENT
    assert len(server.requests) == 2
    assert PARENT.strip()[:2000] in user_text(server, 0)
    assert "act=nn.Tanh" in user_text(server, 1) and "edit 1" in user_text(server, 1)  # the reason, named
    assert [e.purpose for e in ledger.drain()] == ["mutation.diff", "mutation.diff"]


def test_spec_choice_against_a_server_that_refuses_json_schema_falls_back_to_a_forced_tool_call():
    with ScriptedLLMServer(
        [tool_answer("SpecChoice", {"choice": 2, "reason": "GELU helps small nets"})], reject_json_schema=True
    ) as server:
        role, ledger = agent(server, "spec")
        result = role.mutate(request())
    assert result.mode == "spec" and result.spec is not None and "spec choice 2/" in result.transformation
    assert ledger.method == "function_calling"
    first, second = server.bodies()
    assert first["response_format"]["type"] == "json_schema"  # refused with HTTP 500, read as unsupported
    assert second["tool_choice"]["function"]["name"] and "response_format" not in second
    options = user_text(server, 1)
    assert "1. " in options and "2. " in options and "GELU activations" in options


def test_code_after_a_reasoning_block_is_taken_and_unchanged_code_is_returned_for_the_verifier():
    thought = "<think>The parent uses ReLU; switch to GELU.</think>\n"
    child = PARENT.replace(OLD, NEW)
    with ScriptedLLMServer([answer(thought + f"```python\n{child}```"), answer(f"```python\n{PARENT}```")]) as server:
        role, ledger = agent(server, "code")
        changed = role.mutate(request(spec=False))
        unchanged = role.mutate(request(spec=False))
    assert changed.source.strip() == child.strip() and changed.mode == "code"
    # unchanged code is not refused here: the verifier rejects it as not_modified and asks for a real change
    assert unchanged.source.strip() == PARENT.strip() and unchanged.structure_hash != changed.structure_hash
    think = ledger.drain()[0]
    assert "<think>" in think.answer and think.tokens_out > 0  # kept in the record, counted


def test_a_server_that_keeps_failing_raises_llm_error_after_the_retries():
    with ScriptedLLMServer(default=error(502, "bad gateway")) as server:
        role, ledger = agent(server, "code", max_retries=2)
        with pytest.raises(LLMError) as raised:
            role.mutate(request(spec=False))
    assert raised.value.kind == "server" and "502" in str(raised.value)
    assert len(server.requests) == 3  # one call and two retries
    (failed,) = ledger.drain()
    assert failed.error and [t["kind"] for t in failed.tries] == ["server", "server", "server"]


def test_a_slow_or_malformed_answer_is_a_failed_step_not_a_crash():
    from tests.llm_server import malformed

    with ScriptedLLMServer([malformed(), malformed()]) as server:
        role, _ = agent(server, "code", max_retries=1)
        with pytest.raises(LLMError):
            role.mutate(request(spec=False))
    with ScriptedLLMServer([answer("```python\nx = 1\n```", delay_s=3.0)]) as server:
        role, _ = agent(server, "code", max_retries=0, timeout_s=0.5)
        with pytest.raises(LLMError) as raised:
            role.mutate(request(spec=False))
    assert raised.value.kind == "timeout"
    assert json.dumps(server.bodies()[0]["messages"])  # it was asked, then given up on
