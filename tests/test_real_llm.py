"""The mutation agent against a real LLM server, when one is running (skipped with a message otherwise).

Start one with ``../shared/tools/llm-server.sh`` (llama.cpp's server with Qwen2.5-Coder-0.5B on
127.0.0.1:8077), or point ``FAIRNAD_TEST_LLM_URL`` (and ``FAIRNAD_TEST_LLM_MODEL``) at another
OpenAI-compatible endpoint. One spec-mode request: the structured-output fallback must find a
method the server accepts, and the choice must be a valid option of the menu.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest

from agents.base import RoleContext
from agents.llm import Ledger, make_client
from agents.mutation import MutationAgent
from agents.records import MutationRequest
from agents.settings import LLMSettings
from fairnad_tools.spaces import make_space

URL = os.environ.get("FAIRNAD_TEST_LLM_URL", "http://127.0.0.1:8077/v1")
MODEL = os.environ.get("FAIRNAD_TEST_LLM_MODEL", "qwen")

pytestmark = [pytest.mark.allow_hosts(["127.0.0.1"]), pytest.mark.timeout(900)]


def _server_up() -> bool:
    try:
        with urllib.request.urlopen(f"{URL}/models", timeout=3):
            return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def test_spec_choice_from_a_real_server():
    if not URL.startswith("http://127.0.0.1") or not _server_up():
        pytest.skip(f"no real LLM server at {URL} (start ../shared/tools/llm-server.sh, or set FAIRNAD_TEST_LLM_URL)")
    space = make_space("open")
    seed = space.seed("resnet32", (3, 16, 16))
    settings = LLMSettings(provider="openai", model=MODEL, base_url=URL, temperature=0.0)
    ledger = Ledger(settings)
    client = make_client(settings, "mutation", ledger)
    assert client is not None
    client.probe()
    config = SimpleNamespace(
        mutation=SimpleNamespace(mode="spec", spec_choices=4), verify=SimpleNamespace(min_layers=3)
    )
    role = MutationAgent(RoleContext(settings=config, llm=client, space=space))
    result = role.mutate(
        MutationRequest(
            candidate_id="0001",
            mutation_type="fair_idea",
            parent_id="0000",
            parent_spec=space.dump(seed),
            parent_source=space.render(seed),
            idea="se-1",
            idea_title="Squeeze-and-excitation",
            idea_description="Reweight channels with a gate computed from globally pooled features.",
            sub_category="block.recalibration.squeeze_excitation",
            input_shape=(3, 16, 16),
            max_flops=50_000_000,
        )
    )
    assert result.mode == "spec" and result.spec is not None and "spec choice" in result.transformation
    assert ledger.method in ("json_schema", "function_calling", "json_mode", "text")
    assert ledger.tokens_in > 0
