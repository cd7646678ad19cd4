"""The feedback role's LLM mode: lessons after each round, kept in the run and shown in the next mutation prompts."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from agents.base import RoleContext
from agents.feedback import MAX_LESSON_LINES, BuiltinFeedback
from agents.llm import Exchange, LLMError, Recordings, round_key
from agents.records import FeedbackStats, Outcome
from graph.nodes.feedback import feedback
from graph.store import RunStore, llm_totals
from graph.trace import TraceWriter
from tests.conftest import read_summary, read_trace, run_cli
from tests.llm_server import Response, ScriptedLLMServer, answer
from tests.test_mutation_agent import CHILD, FakeLLM, agent, fenced, request

pytestmark = pytest.mark.timeout(60)

IDEA = "operation.attention.windowed_attention"
OUTCOMES = [
    Outcome(
        candidate_id="0003",
        idea="swin-0001",
        idea_title="Shifted-window self-attention",
        sub_category=IDEA,
        mutation_type="fair_idea",
        status="trained",
        val_acc=0.9123,
        parent_val_acc=0.9001,
        params=464_154,
        flops=69_117_952,
    ),
    Outcome(
        candidate_id="0004",
        idea="se-0002",
        idea_title="Squeeze-and-excitation",
        sub_category="block.attention.channel_attention",
        mutation_type="fair_idea",
        status="rejected",
        reason="verifier: over_param_budget: 2,100,000 parameters exceed the 1,500,000 budget",
    ),
    Outcome(
        candidate_id="0005",
        idea=None,
        sub_category=None,
        mutation_type="pareto_tune",
        status="trained",
        val_acc=0.88,
        parent_val_acc=0.9001,
        params=300_000,
        flops=40_000_000,
    ),
]
LESSONS = "## Helped\n- windowed attention (+1.22 points in 0003)\n## Avoid\n- squeeze-and-excitation over budget"


def role(llm=None) -> BuiltinFeedback:
    return BuiltinFeedback(RoleContext(settings=SimpleNamespace(), llm=llm))


# -- the role ---------------------------------------------------------------------------------------


def test_the_lessons_prompt_shows_outcomes_statistics_and_previous_lessons():
    llm = FakeLLM([LESSONS])
    feedback_role = role(llm)
    stats, _ = feedback_role.update(FeedbackStats(), OUTCOMES)
    text = feedback_role.lessons(3, stats, OUTCOMES, previous="## Hurt\n- PREVIOUS-LESSON deep stems")
    assert text == LESSONS
    call = llm.calls[0]
    assert (call["candidate"], call["attempt"], call["purpose"]) == ("round-03", 0, "feedback.lessons")
    shown = llm.shown()
    assert "Round 3 has finished" in shown
    assert (
        '0003 (fair_idea, idea "Shifted-window self-attention" [operation.attention.windowed_attention]): trained, '
        "val acc 91.23% vs parent 90.01% (+1.22 points), 464,154 params, 69,117,952 MACs" in shown
    )
    assert '0004 (fair_idea, idea "Squeeze-and-excitation" [block.attention.channel_attention]): rejected' in shown
    assert "reason: verifier: over_param_budget: 2,100,000 parameters exceed the 1,500,000 budget" in shown
    assert "0005 (pareto_tune): trained, val acc 88.00% vs parent 90.01% (-2.01 points), 300,000 params" in shown
    # the run's statistics per sub-category
    assert f"{IDEA}: tried 1, improved 1, failed 0, vetoed 0, mean gain +1.22 points" in shown
    assert "block.attention.channel_attention: tried 1, improved 0, failed 1, vetoed 0" in shown
    # the previous lessons, and what is asked
    assert "PREVIOUS-LESSON deep stems" in shown and "Keep the lessons that still hold" in shown
    assert "at most 15 bullet lines" in shown and '"Helped", "Hurt" and "Avoid"' in shown


def test_the_first_lessons_say_so_and_think_blocks_are_stripped():
    llm = FakeLLM(["<think>the attention helped, the SE block was too big</think>\n\n" + LESSONS])
    text = role(llm).lessons(1, FeedbackStats(), OUTCOMES, previous=None)
    assert text == LESSONS and "<think>" not in text
    assert "These are the first lessons of the run." in llm.shown()
    assert "Your lessons after the previous rounds" not in llm.shown()


def test_long_lessons_are_cut_and_an_empty_answer_is_none():
    many = "\n".join(f"- lesson {i}" for i in range(40))
    text = role(FakeLLM([many])).lessons(1, FeedbackStats(), OUTCOMES, None)
    assert text is not None and len(text.splitlines()) == MAX_LESSON_LINES and text.endswith("lesson 19")
    assert role(FakeLLM(["<think>nothing to say</think>  "])).lessons(1, FeedbackStats(), OUTCOMES, None) is None


def test_no_client_or_only_the_seed_means_no_call_and_no_lessons():
    assert role(None).lessons(1, FeedbackStats(), OUTCOMES, "old") is None
    llm = FakeLLM([])
    seed = Outcome(candidate_id="0000", idea=None, sub_category=None, mutation_type="seed", status="trained")
    assert role(llm).lessons(0, FeedbackStats(), [seed], None) is None and llm.calls == []


def test_statistics_are_the_same_with_and_without_an_llm():
    before = FeedbackStats()
    plain, plain_notes = role(None).update(before, OUTCOMES)
    with_llm = role(FakeLLM([LESSONS]))
    stats, notes = with_llm.update(before, OUTCOMES)
    with_llm.lessons(1, stats, OUTCOMES, None)
    assert stats == plain and notes == plain_notes and before == FeedbackStats()


# -- the mutation prompts ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["code", "diff"])
def test_a_mutation_prompt_shows_the_lessons_only_when_the_request_has_them(mode):
    answer_text = fenced(CHILD)
    mutation, llm = agent(mode, answer_text, answer_text)
    mutation.mutate(request(lessons=LESSONS))
    assert "Lessons from the earlier rounds of this search" in llm.shown(0) and LESSONS in llm.shown(0)
    mutation.mutate(request())
    assert "Lessons from the earlier rounds" not in llm.shown(1) and "windowed attention (+1.22" not in llm.shown(1)


def test_the_spec_prompt_shows_the_lessons():
    mutation, llm = agent("spec", {"choice": 1, "reason": "r"})
    mutation._fit_option = lambda option, note, budget: (option.arch, option.how)
    mutation.mutate(request(lessons=LESSONS))
    assert LESSONS in llm.shown()


# -- the node, the store and the recordings ---------------------------------------------------------


class _Bank:
    def get(self, idea_id: str) -> SimpleNamespace:
        return SimpleNamespace(title=f"title of {idea_id}")


def _state(budget: int = 10, **extra) -> dict:
    record = dict(
        id="0001", parent="0000", round=1, mutation_type="fair_idea", transformation="t", idea="swin-0001",
        sub_category=IDEA, status="trained", reason=None, params=400_000, flops=60_000_000, val_acc=0.93,
        test_acc=None, seconds=1.0, structure_hash="h", attempt=0, retries={}, feedback=[], error_role=None,
        vetoed=[], mode="code", llm_error=False, not_made=False,
    )  # fmt: skip
    seed = {**record, "id": "0000", "parent": None, "round": 0, "mutation_type": "seed", "idea": None,
            "sub_category": None, "val_acc": 0.9}  # fmt: skip
    return {"candidates": {"0000": seed, "0001": record}, "batch": ["0001"], "round": 1, "budget": budget,
            "stats": {}, **extra}  # fmt: skip


def _runtime(tmp_path: Path, llm) -> SimpleNamespace:
    store = RunStore(tmp_path)
    ctx = SimpleNamespace(
        roles=SimpleNamespace(feedback=role(llm)),
        store=store,
        tracer=TraceWriter(store.trace_file),
        ledger=None,
        bank=lambda: _Bank(),
    )
    return SimpleNamespace(context=ctx)


def test_the_node_writes_the_lessons_and_keeps_them_in_the_state(tmp_path):
    llm = FakeLLM([LESSONS])
    update = feedback(_state(), _runtime(tmp_path, llm))
    assert update["lessons"] == LESSONS and update["lessons_round"] == 1
    assert update["stats"]["sub_categories"][IDEA]["improved"] == 1
    assert (tmp_path / "lessons/round-01.md").read_text() == LESSONS + "\n"
    assert (tmp_path / "lessons.md").read_text() == f"# Lessons after round 1\n\n{LESSONS}\n"
    assert 'idea "title of swin-0001"' in llm.shown() and "400,000 params" in llm.shown()
    steps = [e for e in read_trace(tmp_path) if e["event"] == "role_step"]
    assert len(steps) == 2 and "lessons of round 1" in steps[1]["decided"]


def test_a_failed_lessons_call_keeps_the_previous_lessons_and_the_run_goes_on(tmp_path):
    llm = FakeLLM([LLMError("server", "HTTP 503 overloaded")])
    update = feedback(_state(lessons="old lessons", lessons_round=0), _runtime(tmp_path, llm))
    assert "lessons" not in update and update["stats"]["ideas"]["swin-0001"]["tried"] == 1
    failures = [e for e in read_trace(tmp_path) if e["event"] == "llm_failure"]
    assert len(failures) == 1 and "503" in failures[0]["message"] and "previous lessons kept" in failures[0]["message"]
    assert not (tmp_path / "lessons.md").exists()


def test_no_lessons_are_asked_for_after_the_last_round(tmp_path):
    llm = FakeLLM([])
    update = feedback(_state(budget=2), _runtime(tmp_path, llm))
    assert llm.calls == [] and "lessons" not in update


def test_round_exchanges_are_kept_apart_counted_and_read_back(tmp_path):
    store = RunStore(tmp_path)
    data = Exchange(role="feedback", candidate=round_key(1), attempt=0, step=0, purpose="feedback.lessons",
                    model="m", method="text", messages=[], tokens_in=30, tokens_out=7).to_json()  # fmt: skip
    path = store.write_exchange(round_key(1), "feedback", data)
    assert path == tmp_path / "lessons/llm/01-feedback.json"
    mutation = {**data, "role": "mutation", "candidate": "0001", "tokens_in": 5, "tokens_out": 2}
    store.write_exchange("0001", "mutation", mutation)
    by_candidate, by_role = store.llm_usage()
    assert by_candidate == {"0001": {"llm_calls": 1, "tokens_in": 5, "tokens_out": 2}}
    totals = llm_totals(by_role)
    assert totals["calls"] == 2 and totals["tokens_in"] == 35 and totals["roles"]["feedback"]["tokens_out"] == 7
    assert Recordings.from_run_dir(tmp_path).get("round-01", 0, "feedback", 0) is not None


# -- a whole run against the scripted server --------------------------------------------------------

SCENARIO = Path(__file__).parent / "llm_scenario"
PROBE = "Reply with the word OK"
MARKER = "LESSON-MARKER: windowed attention helped"


def scripted(body: dict) -> Response:
    """The probe gets OK; the feedback agent lessons (with a think block); the mutation agent a wider model."""
    text = json.dumps(body["messages"])
    if PROBE in text:
        return answer("OK")
    if "FairNAD's feedback agent" in text:
        return answer(f"<think>let me see</think>\n## Helped\n- {MARKER}")
    scripted.width += 8  # type: ignore[attr-defined]
    source = (SCENARIO / "small_se.py").read_text().replace("64", str(scripted.width))  # type: ignore[attr-defined]
    return answer(f"```python\n{source}```")


@pytest.mark.allow_hosts(["127.0.0.1"])
@pytest.mark.timeout(600)
def test_a_run_shows_round_one_lessons_in_round_two_prompts_and_counts_the_call(tmp_path):
    run_dir = tmp_path / "run"
    scripted.width = 64  # type: ignore[attr-defined]
    with ScriptedLLMServer(scripted) as server:
        result = run_cli("run", "--run-dir", str(run_dir), "--budget", "3", "--llm", "scripted", "--llm-base-url",
                         server.base_url, "--dataset", "digits", "--epochs", "1", "--mutation-mode", "code", "-q",
                         timeout=500)  # fmt: skip
        bodies = [json.dumps(b["messages"]) for b in server.bodies()]
    assert result.returncode == 0, result.stdout + result.stderr
    lessons_asked = [b for b in bodies if "FairNAD's feedback agent" in b]
    assert len(lessons_asked) == 1  # after round 1; none after the last round
    assert "0001 (" in lessons_asked[0]
    mutations = [b for b in bodies if "FairNAD's mutation agent" in b]
    assert len(mutations) == 2 and MARKER not in mutations[0] and MARKER in mutations[1]
    assert (run_dir / "lessons/round-01.md").read_text() == f"## Helped\n- {MARKER}\n"
    assert (run_dir / "lessons.md").read_text().startswith("# Lessons after round 1\n")
    kept = json.loads((run_dir / "lessons/llm/01-feedback.json").read_text())
    assert kept["candidate"] == "round-01" and kept["purpose"] == "feedback.lessons"
    llm = read_summary(run_dir)["llm"]
    assert llm["calls"] == 3 and llm["roles"]["feedback"]["calls"] == 1
    assert llm["tokens_in"] == llm["roles"]["mutation"]["tokens_in"] + kept["tokens_in"]
    steps = [e for e in read_trace(run_dir) if e["event"] == "role_step" and e["role"] == "feedback"]
    assert any("lessons of round 1" in e["decided"] and e["tokens"] for e in steps)
