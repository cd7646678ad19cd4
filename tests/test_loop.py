"""The loop in-process with scripted roles: stopping rules, plugins, traces."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from agents import registry
from agents.extractor import BuiltinExtractor, KnowledgeSummary
from agents.mutation import BuiltinMutation, MutationFailed
from agents.registry import RoleRegistryError, get_role, register_role
from fairnad_tools import plugins
from graph.runner import start_run
from graph.settings import load_settings
from graph.store import RunStore
from graph.trace import TraceWriter, read_trace

pytestmark = pytest.mark.timeout(300)


@register_role("test_store_free_extractor")
class StoreFreeExtractor(BuiltinExtractor):
    """The built-in extractor without the vector store (keeps these tests fast)."""

    def build(self, store_dir: Path):
        bank = self.load_bank()
        summary = KnowledgeSummary(
            ideas=len(bank),
            sub_categories=55,
            covered_sub_categories=55,
            empty_sub_categories=[],
            store_count=0,
            store="none",
            seconds=0.0,
        )
        return bank, summary


@register_role("test_failing_mutation")
class FailingMutation(BuiltinMutation):
    """Produces the seed, then fails every mutation."""

    def mutate(self, request):
        if request.mutation_type == "seed":
            return super().mutate(request)
        raise MutationFailed("scripted failure: this role never mutates")


def settings(**roles):
    return load_settings(
        overrides={
            "search": {"budget": 4, "max_consecutive_rejections": 3},
            "train": {"epochs": 1, "device": "cpu"},
            "roles": {"extractor": "test_store_free_extractor", **roles},
        },
        env={},
    )


def test_a_mutation_role_that_keeps_failing_stops_the_run_clearly(tmp_path):
    summary = start_run(settings(mutation="test_failing_mutation"), RunStore(tmp_path / "run"))
    assert summary["status"] == "stopped"
    assert "3 candidates in a row were rejected" in summary["stop_reason"]
    assert "scripted failure" in summary["stop_reason"]
    statuses = [c["status"] for c in summary["candidates"]]
    assert statuses[0] == "trained" and statuses.count("rejected") == 3
    assert summary["counted"] == 1 and summary["best"] == "0000"  # the seed's result is kept


def test_a_relative_run_dir_works(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = settings()
    s.search.budget = 2
    summary = start_run(s, RunStore(Path("runs") / "rel"))
    assert summary["status"] == "finished", summary
    assert [c["status"] for c in summary["candidates"]] == ["trained", "trained"]


def test_a_seed_over_budget_is_downscaled_by_the_mutation_role(tmp_path):
    s = settings()
    s.search.budget = 1
    s.verify.max_params = 300_000
    summary = start_run(s, RunStore(tmp_path / "run"))
    seed = summary["candidates"][0]
    assert summary["status"] == "finished" and seed["status"] == "trained"
    assert seed["params"] <= 300_000 and "downscale(" in seed["transformation"]
    steps = list(read_trace(tmp_path / "run" / "trace.jsonl", role="verifier"))
    assert [e["decided"] for e in steps] == ["approved"]


@register_role("test_stubborn_mutation")
class StubbornMutation(BuiltinMutation):
    """Ignores budgets and reviews: always proposes the plain seed."""

    def mutate(self, request):
        return super().mutate(request.model_copy(update={"feedback": [], "max_params": 10**9, "max_flops": 10**12}))


def test_verifier_budget_retries_are_bounded_and_the_last_report_kept(tmp_path):
    s = settings(mutation="test_stubborn_mutation")
    s.verify.max_params = 300_000
    summary = start_run(s, RunStore(tmp_path / "run"))
    assert summary["status"] == "stopped" and "seed model did not train" in summary["stop_reason"]
    seed = summary["candidates"][0]
    assert seed["status"] == "rejected" and "over_param_budget" in seed["reason"] and "budget 0.300M" in seed["reason"]
    steps = list(read_trace(tmp_path / "run" / "trace.jsonl", role="verifier"))
    assert len(steps) == 5  # the first try and roles.retries.budget = 4 retries
    assert steps[0]["decided"].startswith("sent back (budget retry 1/4)")
    assert steps[-1]["decided"].startswith("rejected after 4 budget retries")
    report = json.loads((tmp_path / "run" / "candidates" / "0000" / "verify.json").read_text())
    assert report["code"] == "over_param_budget"


def test_a_seed_that_cannot_fit_stops_the_run_with_the_reason(tmp_path):
    s = settings()
    s.verify.max_params = 1_000
    summary = start_run(s, RunStore(tmp_path / "run"))
    assert summary["status"] == "stopped"
    assert "seed model did not train" in summary["stop_reason"] and "cannot downscale" in summary["stop_reason"]
    assert summary["candidates"][0]["status"] == "rejected"


def test_roles_from_entry_points(monkeypatch, tmp_path):
    (tmp_path / "fairnad_test_plugin.py").write_text(
        "from agents.base import Role\nfrom agents.registry import register_role\n\n\n"
        "@register_role('plugin_reviewer')\nclass PluginReviewer(Role):\n"
        "    summary = reads = writes = decides = 'a third-party role'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [EntryPoint(name="plugin_reviewer", value="fairnad_test_plugin", group=registry.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(plugins, "entry_points", lambda group: points)
    monkeypatch.setattr(registry.ROLES, "_discovered", False)
    assert get_role("plugin_reviewer").summary == "a third-party role"
    broken = [EntryPoint(name="broken", value="fairnad_no_such_module", group=registry.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(plugins, "entry_points", lambda group: broken)
    monkeypatch.setattr(registry.ROLES, "_discovered", False)
    with pytest.raises(RoleRegistryError, match="'broken'.*failed to load"):
        registry.discover()


def test_trace_redacts_secrets_and_survives_a_torn_line(tmp_path):
    path = tmp_path / "trace.jsonl"
    writer = TraceWriter(path)
    writer.emit(
        "role_step",
        role="mutation",
        candidate="0001",
        api_key="sk-verysecretvalue123",
        given="prompt with Bearer abcdefghijklmnop inside",
        decided="ok",
    )
    writer.close()
    with open(path, "a") as handle:
        handle.write('{"v": 1, "event": "cut')
    events = list(read_trace(path))
    assert len(events) == 1
    text = json.dumps(events[0])
    assert "verysecret" not in text and "abcdefghijklmnop" not in text
    assert list(read_trace(path, role="verifier")) == []
