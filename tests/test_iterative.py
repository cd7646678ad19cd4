"""The method's iterative mutation with a scripted LLM: the analysis (what it is shown), step 1
(the idea, verified only) and step 2 (a refinement of step 1), in code and spec modes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.mutation import MutationRetry
from agents.records import HistoryEntry, RelatedIdea, ReviewNote
from tests.test_mutation_agent import CHILD, PARENT, SPACE, agent, fenced, request

pytestmark = pytest.mark.timeout(60)

HISTORY = [
    HistoryEntry(id="0004", mutation_type="fair_idea", idea="se-1", idea_title="Squeeze-and-excitation",
                 sub_category="block.recalibration.channel_attention", transformation="idea(se)",
                 val_acc=0.9125, params=471_234, flops=17_456_000),
    HistoryEntry(id="0002", mutation_type="pareto_scale_up", val_acc=0.8875, params=660_000, flops=20_350_000),
    HistoryEntry(id="0006", mutation_type="fair_idea", idea="drop-1", idea_title="Heavy dropout",
                 sub_category="regularization.dropout.dropout", val_acc=0.5125, params=470_000, flops=17_300_000,
                 poor=True),
]  # fmt: skip
RELATED = [
    RelatedIdea(id="halo-1", title="Blocked local self-attention", sub_category="operation.attention.windowed_attention",
                description="Attention within blocks with a halo of neighbours."),
]  # fmt: skip
ANALYSIS = "- Squeeze-and-excitation helped (91.25%).\n- Heavy dropout hurt: avoid strong regularisation."


def iterative(step: int | None, **kw):
    return request("iterative", iter_step=step, history=HISTORY, related_ideas=RELATED, **kw)


def test_step_1_analyses_the_history_then_applies_the_idea_and_is_marked_verify_only():
    role, llm = agent("code", ANALYSIS, fenced(CHILD))
    result = role.mutate(iterative(1))
    assert [c["purpose"] for c in llm.calls] == ["mutation.analysis", "mutation.code"]
    shown = llm.shown(0)
    for text in (
        "0004",
        "91.25%",
        "471,234 params",
        "17,456,000 MACs",
        "Squeeze-and-excitation",
        "0006 (a poor one)",
        "51.25%",
        "Heavy dropout",
        "Blocked local self-attention",
        "Attention within blocks",
        "Shifted-window self-attention",
        "operation.attention.windowed_attention",
        "at most 150 words",
    ):
        assert text in shown, text  # fmt: skip
    assert PARENT not in shown  # the analysis call does not need the source
    step1 = llm.shown(1)
    assert "step 1 of 2" in step1 and ANALYSIS in step1 and PARENT.strip() in step1
    assert result.step == 1 and result.analysis == ANALYSIS and result.source.strip() == CHILD.strip()


def test_a_retry_of_step_1_reuses_the_kept_analysis():
    note = ReviewNote(role="verifier", code="forward_error", kind="execution", message="line 3: boom")
    role, llm = agent("code", fenced(CHILD))
    result = role.mutate(iterative(1, analysis=ANALYSIS, attempt=1, feedback=[note], previous_source=PARENT))
    assert [c["purpose"] for c in llm.calls] == ["mutation.code"]
    assert ANALYSIS in llm.shown() and result.step == 1 and result.analysis is None


def test_a_step_1_retry_keeps_the_analysis_it_already_paid_for():
    role, llm = agent("code", ANALYSIS, ("```python\nimport torch\nclass Net(", "length"))
    with pytest.raises(MutationRetry) as caught:
        role.mutate(iterative(1))
    assert caught.value.code == "truncated" and caught.value.analysis == ANALYSIS


def test_step_2_refines_the_verified_step_1_and_is_final():
    step1 = CHILD
    refined = step1.replace("act=nn.GELU", "act=nn.SiLU")
    assert refined != step1
    role, llm = agent("code", fenced(refined))
    result = role.mutate(iterative(2, analysis=ANALYSIS, step1_source=step1, attempt=1))
    shown = llm.shown()
    assert "step 2 of 2" in shown and "ONE small change" in shown and step1.strip() in shown
    assert [c["purpose"] for c in llm.calls] == ["mutation.code"]
    assert result.step == 2 and result.transformation.startswith("refine: ") and "SiLU" in result.source


def test_step_2_in_spec_mode_offers_refinements_of_step_1_not_of_the_parent():
    import random

    arch, _ = SPACE.apply_idea(
        SPACE.load(request().parent_spec), "operation.attention.windowed_attention", random.Random(1)
    )
    step1_spec, step1_source = SPACE.dump(arch), SPACE.render(arch)
    role, llm = agent("spec", {"choice": 1, "reason": "smaller kernel"}, spec_choices=3)
    result = role.mutate(iterative(2, step1_spec=step1_spec, step1_source=step1_source, attempt=1))
    assert llm.calls[0]["purpose"] == "mutation.spec" and "step 2 of 2" in llm.shown()
    assert result.step == 2 and result.mode == "spec"
    assert result.structure_hash != SPACE.structure_hash(arch)
    # the refinement keeps step 1's idea: the windowed attention is still in the network
    assert "Window" in result.source or "window" in result.source


def test_without_an_llm_the_built_in_stand_in_makes_both_edits_at_once():
    from agents.base import RoleContext
    from agents.mutation import MutationAgent
    from tests.test_mutation_agent import SimpleNamespace

    settings = SimpleNamespace(
        mutation=SimpleNamespace(mode="auto", spec_choices=4), verify=SimpleNamespace(min_layers=3)
    )
    role = MutationAgent(RoleContext(settings=settings, llm=None, space=SPACE))
    result = role.mutate(request("iterative"))
    assert result.step is None and result.mode == "builtin" and " + " in result.transformation


# -- a whole run against the scripted OpenAI-compatible server ------------------------------------


LESSON = "- Keep the squeeze-and-excitation block small."
REASON = "the gating branch of the idea is missing"


def _scripted_agents():
    """The server's answers by prompt: the probe, the analysis, the verifier's reviews (the first
    says no), the lessons, and models sized by step (round 2's prompts carry the lesson)."""
    import json as _json

    from tests.llm_server import answer as _answer

    small = (Path(__file__).parent / "llm_scenario" / "small_se.py").read_text()
    over = (Path(__file__).parent / "llm_scenario" / "over_budget.py").read_text()
    reviews = []

    def model(width: int):
        return _answer(f"```python\n{small.replace('64', str(width))}```")

    def reply(body: dict):
        text = _json.dumps(body["messages"])
        if "Reply with the word OK" in text:
            return _answer("OK")
        if "analyse the search so far" in text:
            return _answer("- The seed is the only trained network: apply the idea lightly.\n- Avoid widening.")
        if "code reviewer" in text:
            reviews.append(text)
            return _answer(_json.dumps({"realises": len(reviews) > 1, "reason": REASON}))
        if "has finished. Its candidates" in text:
            return _answer(LESSON)
        round_2 = LESSON in text
        if "step 2 of 2" in text:
            if round_2:
                return model(60)
            if "over budget" not in text:  # step 2's first try: over the parameter budget
                return _answer(f"```python\n{over}```")
            if "its own step 1" not in text:  # its downscale first gives back step 1 itself (a duplicate)
                return model(44)
            return model(56)
        if round_2:
            return model(52)
        return model(44 if REASON in text else 48)  # step 1; after the review's veto, another change

    return reply


@pytest.mark.allow_hosts(["127.0.0.1"])
@pytest.mark.timeout(600)
def test_a_run_with_every_llm_role_iterative_steps_a_review_veto_and_lessons_in_round_two(tmp_path):
    from tests.conftest import read_summary, read_trace, run_cli
    from tests.llm_server import ScriptedLLMServer

    run_dir = tmp_path / "run"
    env = {
        "FAIRNAD_SEARCH__MUTATION_MIX__FAIR_IDEA": "0",
        "FAIRNAD_SEARCH__MUTATION_MIX__PARETO": "0",
        "FAIRNAD_SEARCH__MUTATION_MIX__ITERATIVE": "1",
        "FAIRNAD_VERIFY__LLM_REVIEW": "true",
    }
    with ScriptedLLMServer(_scripted_agents()) as server:
        result = run_cli("run", "--run-dir", str(run_dir), "--dataset", "digits", "--epochs", "1", "--budget", "3",
                         "--llm", "m", "--llm-base-url", server.base_url, "--mutation-mode", "code", "-q",
                         env=env, timeout=540)  # fmt: skip
        prompts = [json.dumps(body["messages"]) for body in server.bodies()]
    assert result.returncode == 0, result.stderr
    trace = read_trace(run_dir)
    # 0001: the analysis is kept, step 1 is vetoed by the LLM review once, then verified only
    folder = run_dir / "candidates" / "0001"
    assert "apply the idea lightly" in (folder / "analysis.md").read_text()
    assert "44" in (folder / "step1.py").read_text() and (folder / "step1-verify.json").is_file()
    assert json.loads((folder / "step1-verify.json").read_text())["llm_review"]["realises"] is True
    assert "56" in (folder / "model.py").read_text()
    assert json.loads((folder / "mutation.json").read_text())["iter_step"] == 2
    step1_prompts = [p for p in prompts if "step 1 of 2" in p and "code reviewer" not in p]
    assert "apply the idea lightly" in step1_prompts[0] and REASON in step1_prompts[1]  # the veto's reason came back
    step2_prompt = next(p for p in prompts if "step 2 of 2" in p and "code reviewer" not in p)
    assert "self.features" in step2_prompt and "44" in step2_prompt  # step 1's file is its parent
    steps = [(e["role"], e.get("iter_step"), e["decided"]) for e in trace
             if e["event"] == "role_step" and e.get("candidate") == "0001"]  # fmt: skip
    assert steps[0][:2] == ("mutation", 1) and "verified only" in steps[0][2]
    assert steps[1][0] == "verifier" and "sent back (review retry" in steps[1][2] and "idea_not_realised" in steps[1][2]
    assert steps[2][:2] == ("mutation", 1)
    assert steps[3][0] == "verifier" and steps[3][2].startswith("approved step 1 of 2")
    assert steps[4][:2] == ("mutation", 2) and steps[4][2].startswith("refine: ")
    assert steps[5][0] == "verifier" and "over_param_budget" in steps[5][2]  # sent back to fit
    # the downscale repeated step 1: refused as a duplicate of "its own step 1" and asked again
    assert steps[6][:2] == ("mutation", 2) and "(1 duplicate edits skipped)" in steps[6][2]
    assert steps[7] == ("verifier", None, "approved")
    trained = [e for e in trace if e["event"] == "tool_call" and e.get("tool") == "train"
               and e.get("candidate") == "0001" and e.get("phase") == "finished"]  # fmt: skip
    assert len(trained) == 1, "step 2 was not trained, or step 1 was too"
    # round 1's lessons are kept and shown to round 2 (0002), not before
    assert LESSON in (run_dir / "lessons" / "round-01.md").read_text()
    assert not any(LESSON in p for p in step1_prompts[:2])
    assert any(LESSON in p and "step 1 of 2" in p for p in prompts)
    rows = {c["id"]: c for c in read_summary(run_dir)["candidates"]}
    assert rows["0001"]["status"] == "trained" and rows["0002"]["status"] == "trained"
    assert set(read_summary(run_dir)["llm"]["roles"]) == {"mutation", "verifier", "feedback"}
