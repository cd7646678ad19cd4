"""The seams the loop is built on: role parts, space and strategy registries, the run's idea bank."""

from __future__ import annotations

import shutil
import sqlite3
import warnings
from pathlib import Path

import pytest
import yaml

from agents.base import FeedbackRole, RoleContext
from agents.extractor import BuiltinExtractor
from agents.feedback import BuiltinFeedback
from agents.mutation import BuiltinMutation
from agents.records import FeedbackStats, KnowledgeSummary, Outcome
from agents.registry import RoleRegistryError, register_role
from agents.verifier import VerifierRole
from fairnad_tools.spaces import SpaceError
from graph.context import RunContext
from graph.runner import resume_run, start_run
from graph.settings import FairNADSettings, load_settings
from graph.store import RunStore
from graph.strategies import PlannedCandidate, RoundView, Strategy, StrategyError
from graph.trace import read_trace
from knowledge.template import load_template
from tests.conftest import run_cli

pytestmark = pytest.mark.timeout(600)
STARTER = Path(__file__).resolve().parent.parent / "knowledge" / "data" / "starter_ideas.yaml"


@register_role("test_seams_extractor")
class StoreFreeExtractor(BuiltinExtractor):
    """The built-in extractor without the vector store (keeps these tests fast)."""

    def build(self, store_dir: Path):
        bank = self.load_bank()
        empty = bank.empty_sub_categories()
        summary = KnowledgeSummary(
            ideas=len(bank),
            sub_categories=len(bank.template.slugs),
            covered_sub_categories=len(bank.template.slugs) - len(empty),
            empty_sub_categories=empty,
            store_count=0,
            store="none",
            seconds=0.0,
        )
        return bank, summary


def settings(budget: int = 3, **sections) -> FairNADSettings:
    roles = {"extractor": "test_seams_extractor", **sections.pop("roles", {})}
    search = {"budget": budget, "max_consecutive_rejections": 4, **sections.pop("search", {})}
    return load_settings(
        overrides={"search": search, "train": {"epochs": 1, "device": "cpu"}, "roles": roles, **sections}, env={}
    )


# -- role parts ---------------------------------------------------------------------------------
def test_a_role_of_the_wrong_part_is_refused_at_start_with_one_clear_error(tmp_path):
    with pytest.raises(RoleRegistryError) as caught:
        RunContext.validate_roles(settings(roles={"mutation": "feedback"}))
    message = str(caught.value)
    assert "roles.mutation" in message and "cannot play the mutation part" in message
    assert "it is a feedback role" in message and "Roles that can: mutation" in message
    with pytest.raises(RoleRegistryError, match="roles.gates.*'mutation' cannot play the gate part"):
        RunContext.validate_roles(settings(roles={"gates": ["mutation"]}))

    run_dir = tmp_path / "run"
    result = run_cli("run", "--run-dir", str(run_dir), env={"FAIRNAD_ROLES__MUTATION": "feedback"}, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot play the mutation part" in result.stderr and "Traceback" not in result.stderr
    assert not run_dir.exists()  # refused before anything was made


def test_every_built_in_role_subclasses_its_part():
    from agents.base import ExtractorRole, GateRole, MutationRole

    assert issubclass(BuiltinExtractor, ExtractorRole) and issubclass(BuiltinMutation, MutationRole)
    assert issubclass(BuiltinFeedback, FeedbackRole) and issubclass(VerifierRole, GateRole)


def test_unknown_space_or_strategy_is_refused_listing_the_registered_ones():
    with pytest.raises(SpaceError, match=r"search.space.*'opne'.*Did you mean 'open'\?.*Registered: open"):
        RunContext.validate_roles(settings(search={"space": "opne"}))
    with pytest.raises(StrategyError, match=r"search.strategy.*'evolution'.*Registered: fairnad"):
        RunContext.validate_roles(settings(search={"strategy": "evolution"}))


class SloppyStrategy(Strategy):
    """Declares one mutation type and plans another."""

    name = "sloppy"
    mutation_types = frozenset({"fair_idea"})

    def plan(self, view: RoundView) -> list[PlannedCandidate]:
        return [PlannedCandidate("random_edit", view.trained[0]["id"])]


def test_a_strategy_planning_an_undeclared_mutation_type_is_an_error():
    import random

    view = RoundView(
        n=1,
        round=1,
        trained=[{"id": "0000"}],
        ideas={},
        stats=FeedbackStats(),
        rng=random.Random(0),
        realisable=None,
        max_params=10,
        max_flops=10,
    )
    with pytest.raises(StrategyError, match="planned mutation type 'random_edit'.*declared: fair_idea"):
        SloppyStrategy(FairNADSettings().search).checked_plan(view)


def test_a_mutation_role_refuses_an_unknown_mutation_type():
    from pydantic import ValidationError

    from agents.records import MutationRequest

    with pytest.raises(ValidationError, match="mutation_type"):
        MutationRequest(candidate_id="0001", mutation_type="random_search", input_shape=(3, 16, 16))


# -- a role that raises ---------------------------------------------------------------------------
@register_role("test_seams_crashing_mutation")
class CrashingOnceMutation(BuiltinMutation):
    """Raises an unexpected error for candidate 0001 only."""

    def mutate(self, request):
        if request.candidate_id == "0001":
            raise ZeroDivisionError("scripted bug in the role")
        return super().mutate(request)


@register_role("test_seams_crashing_gate")
class CrashingGate(VerifierRole):
    """A gate that raises for every candidate but the seed."""

    def review(self, proposal):
        if proposal.parent_id is not None:
            raise KeyError("scripted bug in the gate")
        return super().review(proposal)


@register_role("test_seams_crashing_feedback")
class CrashingFeedback(BuiltinFeedback):
    def update(self, stats, outcomes):
        raise RuntimeError("scripted bug in the feedback role")


def test_a_role_that_raises_rejects_one_candidate_and_the_run_finishes(tmp_path):
    s = settings(roles={"mutation": "test_seams_crashing_mutation", "feedback": "test_seams_crashing_feedback"})
    summary = start_run(s, RunStore(tmp_path / "run"))
    assert summary["status"] == "finished" and summary["counted"] == 3, summary
    by_id = {c["id"]: c for c in summary["candidates"]}
    assert by_id["0001"]["status"] == "rejected"
    assert "unexpected error in role 'test_seams_crashing_mutation'" in by_id["0001"]["reason"]
    assert "ZeroDivisionError: scripted bug in the role" in by_id["0001"]["reason"]
    assert sum(c["status"] == "rejected" for c in summary["candidates"]) == 1
    errors = [e for e in read_trace(tmp_path / "run" / "trace.jsonl") if e["event"] == "role_error"]
    assert {e["role"] for e in errors} == {"test_seams_crashing_mutation", "test_seams_crashing_feedback"}
    assert all("Traceback" in e["traceback"] for e in errors)


def test_a_role_that_keeps_raising_stops_the_run_with_a_reason(tmp_path):
    s = settings(roles={"gates": ["test_seams_crashing_gate"], "max_consecutive_errors": 2})
    summary = start_run(s, RunStore(tmp_path / "run"))
    assert summary["status"] == "stopped" and summary["counted"] == 1
    assert "2 candidates in a row were rejected by unexpected errors in roles" in summary["stop_reason"]
    assert "test_seams_crashing_gate" in summary["stop_reason"] and "KeyError" in summary["stop_reason"]


# -- vetoes -----------------------------------------------------------------------------------------
def test_a_veto_does_not_count_against_the_idea():
    role = BuiltinFeedback(RoleContext(settings=FairNADSettings()))
    outcomes = [
        Outcome(
            candidate_id="0001", idea="a", sub_category="s", mutation_type="fair_idea", status="rejected", vetoed=True
        ),
        Outcome(candidate_id="0002", idea="a", sub_category="s", mutation_type="fair_idea", status="rejected"),
    ]
    stats, notes = role.update(FeedbackStats(), outcomes)
    assert stats.ideas["a"].vetoed == 1 and stats.ideas["a"].tried == 1 and stats.ideas["a"].failed == 1
    assert "vetoed" in notes[0] and notes[1].endswith("failed")


# -- the run's idea bank ----------------------------------------------------------------------------
def test_a_resumed_run_keeps_its_ideas_when_the_idea_files_moved(tmp_path):
    ideas = tmp_path / "my_ideas.yaml"
    data = yaml.safe_load(STARTER.read_text())
    for idea in data["ideas"]:
        idea["id"] = f"mine-{idea['id']}"
    ideas.write_text(yaml.safe_dump(data))
    store = RunStore(tmp_path / "run")
    s = settings(budget=1, knowledge={"ideas": [str(ideas)]})
    assert start_run(s, store)["status"] == "finished"
    assert (store.root / "knowledge" / "bank.json").is_file()
    ideas.rename(tmp_path / "moved.yaml")
    summary = resume_run(store, budget=2, env={})  # round 1's first candidate applies an idea
    assert summary["status"] == "finished" and summary["counted"] == 2, summary
    used = {c["idea"] for c in summary["candidates"] if c["idea"]}
    assert used and all(idea.startswith("mine-") for idea in used)


def _bank_file(path: Path, count: int) -> Path:
    slugs = load_template().slugs
    ideas = [
        {
            "id": f"idea-{i:05d}",
            "sub_category": slugs[i % len(slugs)],
            "title": f"Idea number {i}",
            "description": f"A design idea, number {i}, described in a sentence of ordinary length for a bank.",
            "source": {"title": "A paper", "year": 2024},
        }
        for i in range(count)
    ]
    path.write_text(yaml.safe_dump({"version": 1, "ideas": ideas}))
    return path


def _largest_rows(run_dir: Path) -> tuple[int, int]:
    with sqlite3.connect(run_dir / "checkpoints.sqlite") as conn:
        checkpoint = conn.execute("SELECT max(length(checkpoint)) FROM checkpoints").fetchone()[0]
        write = conn.execute("SELECT max(length(value)) FROM writes").fetchone()[0]
    return checkpoint, write


def test_a_checkpoint_row_does_not_grow_with_the_bank(tmp_path):
    sizes = {}
    for count in (10, 5000):
        s = settings(budget=1, knowledge={"ideas": [str(_bank_file(tmp_path / f"ideas{count}.yaml", count))]})
        run_dir = tmp_path / f"run{count}"
        assert start_run(s, RunStore(run_dir))["status"] == "finished"
        sizes[count] = _largest_rows(run_dir)
    (small_checkpoint, small_write), (big_checkpoint, big_write) = sizes[10], sizes[5000]
    assert big_checkpoint <= small_checkpoint + 512, sizes  # the bank is in knowledge/bank.json only
    assert big_write <= small_write + 512, sizes
    assert (tmp_path / "run5000" / "knowledge" / "bank.json").stat().st_size > 1_000_000


# -- settings owners ----------------------------------------------------------------------------------
def test_old_retry_keys_are_read_with_a_deprecation_message():
    with pytest.warns(FutureWarning, match=r"'verify.debug_retries' is deprecated.*roles.retries.execution"):
        s = load_settings(overrides={"verify": {"debug_retries": 5, "review_retries": 0}}, env={})
    assert s.roles.retries.execution == 5 and s.roles.retries.review == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = load_settings(overrides={"roles": {"retries": {"budget": 1}}}, env={})
    assert s.roles.retries.budget == 1 and s.roles.retries.execution == 2


def test_a_saved_run_with_the_old_retry_keys_still_reads(tmp_path):
    from graph.settings import settings_from_file

    path = tmp_path / "settings.toml"
    path.write_text("[verify]\nmax_params = 1000000\ndownscale_retries = 3\n")
    with pytest.warns(FutureWarning):
        s = settings_from_file(path)
    assert s.roles.retries.budget == 3 and s.verify.max_params == 1_000_000


def test_the_bank_round_trips_through_its_file(tmp_path):
    from knowledge.ideas import IdeaBank, load_ideas

    bank = load_ideas([], load_template())
    again = IdeaBank.from_json(bank.to_json())
    assert again.sub_category_map() == bank.sub_category_map() and again.template == bank.template
    store = RunStore(tmp_path)
    store.write_bank(bank)
    shutil.copy(store.bank_file, tmp_path / "copy.json")
    store.bank_file.write_text('{"schema": 1, "ideas": "nope"}')
    from graph.store import RunDirError

    with pytest.raises(RunDirError, match="bank.json is malformed"):
        store.read_bank()


# -- roles and strategies that break their contract ----------------------------------------------
@register_role("test_seams_garbage_mutation")
class GarbageMutation(BuiltinMutation):
    """Returns a dict instead of a MutationResult for candidate 0001."""

    def mutate(self, request):
        result = super().mutate(request)
        return result.model_dump() if request.candidate_id == "0001" else result


@register_role("test_seams_garbage_gate")
class GarbageGate(VerifierRole):
    """Returns a dict instead of a Review for candidate 0002."""

    def review(self, proposal):
        return {"approved": True} if proposal.candidate_id == "0002" else super().review(proposal)


@register_role("test_seams_garbage_feedback")
class GarbageFeedback(BuiltinFeedback):
    def update(self, stats, outcomes):
        return {"ideas": "not a table"}, ["n"]


def test_roles_returning_the_wrong_record_reject_one_candidate_each(tmp_path):
    s = settings(
        budget=4,
        roles={
            "mutation": "test_seams_garbage_mutation",
            "gates": ["test_seams_garbage_gate"],
            "feedback": "test_seams_garbage_feedback",
        },
    )
    summary = start_run(s, RunStore(tmp_path / "run"))
    assert summary["status"] == "finished" and summary["counted"] == 4, summary
    by_id = {c["id"]: c for c in summary["candidates"]}
    assert "mutate() returned dict, not a MutationResult" in by_id["0001"]["reason"]
    assert "review() returned dict, not a Review" in by_id["0002"]["reason"]
    errors = [e for e in read_trace(tmp_path / "run" / "trace.jsonl") if e["event"] == "role_error"]
    assert any(e["role"] == "test_seams_garbage_feedback" and "statistics unchanged" in e["message"] for e in errors)


class EmptyStrategy(Strategy):
    name = "test_empty"
    mutation_types = frozenset({"random_edit"})

    def plan(self, view):
        return []


class RaisingStrategy(Strategy):
    name = "test_raising"
    mutation_types = frozenset({"random_edit"})

    def plan(self, view):
        raise RuntimeError("scripted bug in the strategy")


@pytest.mark.parametrize(
    "strategy,reason",
    [
        (EmptyStrategy, "strategy 'test_empty' planned no candidates for round 1"),
        (RaisingStrategy, "strategy 'test_raising' failed in round 1: RuntimeError: scripted bug in the strategy"),
    ],
)
def test_a_strategy_that_plans_nothing_or_raises_stops_the_run_with_the_reason(tmp_path, strategy, reason):
    from graph.strategies import register_strategy

    register_strategy(strategy.name)(strategy)
    summary = start_run(settings(budget=3, search={"strategy": strategy.name}), RunStore(tmp_path / "run"))
    assert summary["status"] == "stopped" and summary["stop_reason"] == reason
    assert summary["counted"] == 1 and summary["best"] == "0000"  # the seed's result is kept


def test_a_plan_must_name_trained_parents_and_known_types():
    import random

    from graph.strategies import register_strategy

    class WrongParent(Strategy):
        name = "wrong_parent"
        mutation_types = frozenset({"random_edit"})

        def plan(self, view):
            return [PlannedCandidate("random_edit", "9999")]

    view = RoundView(n=2, round=1, trained=[{"id": "0000"}], ideas={}, stats=FeedbackStats(), rng=random.Random(0),
                     realisable=None, max_params=10, max_flops=10)  # fmt: skip
    with pytest.raises(StrategyError, match="planned parent '9999', which is not a trained candidate"):
        WrongParent(FairNADSettings().search).checked_plan(view)
    with pytest.raises(StrategyError, match="'mutate_everything'.*not mutation types"):

        @register_strategy("test_bad_types")
        class BadTypes(Strategy):
            mutation_types = frozenset({"random_edit", "mutate_everything"})

            def plan(self, view):
                return []


def test_a_rejection_without_a_kind_is_refused():
    from pydantic import ValidationError

    from agents.records import Review

    with pytest.raises(ValidationError, match="a rejection needs a kind"):
        Review(approved=False, code="nope", message="no")


def test_a_resume_whose_bank_file_is_gone_says_so(tmp_path):
    from graph.store import RunDirError

    store = RunStore(tmp_path / "run")
    assert start_run(settings(budget=1), store)["status"] == "finished"
    store.bank_file.unlink()
    with pytest.raises(RunDirError, match=r"idea bank .*bank.json is missing.*never reads the idea files"):
        resume_run(store, budget=2, env={})
