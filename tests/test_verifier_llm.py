"""The verifier's optional LLM review (``verify.llm_review``): when it is asked, what it is shown,
what its verdict does to the review and to ``verify.json``, and that its failures never reject.

The candidate and parent files are the small models of ``tests/llm_scenario``. Real sandboxed
verifications are few (each takes seconds): one passing and one failing report are made once
per module and handed to the other tests; one test verifies for real end to end.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

import agents.verifier as verifier_module
from agents.base import RoleContext
from agents.llm import LLMBudgetExhausted, LLMError
from agents.prompts import estimate_tokens
from agents.records import Proposal
from agents.verifier import IdeaVerdict, VerifierRole, fit_diff, model_diff
from fairnad_tools.verify import verify_file
from graph.context import describe_roles, llm_roles, make_roles
from graph.settings import FairNADSettings
from tests.conftest import read_summary, read_trace, run_cli
from tests.llm_server import ScriptedLLMServer, answer
from tests.test_mutation_agent import FakeLLM

pytestmark = pytest.mark.timeout(120)

SCENARIO = Path(__file__).parent / "llm_scenario"
PARENT = SCENARIO / "small_se.py"
CHILD = SCENARIO / "small_se_k5.py"  # the third convolution's kernel 3 -> 5
BROKEN = SCENARIO / "broken_forward.py"
SHAPE = (3, 16, 16)
TITLE = "Large-kernel convolution"
SUB = "operation.spatial_mixing.large_kernel_conv"


def settings(review: bool = True, **llm) -> FairNADSettings:
    return FairNADSettings(verify={"llm_review": review}, llm=llm or {})


def proposal(model: Path = CHILD, **kw) -> Proposal:
    base = dict(
        candidate_id="0005",
        parent_id="0002",
        mutation_type="fair_idea",
        transformation="3x3 -> 5x5 kernel in the last convolution",
        idea="convnext-0003",
        idea_title=TITLE,
        idea_description="A larger spatial kernel widens each layer's receptive field.",
        sub_category=SUB,
        model_path=model,
        parent_model_path=PARENT,
        input_shape=SHAPE,
        num_classes=10,
        attempt=1,
    )
    return Proposal(**{**base, **kw})


def role(*answers, review: bool = True, llm: bool = True) -> tuple[VerifierRole, FakeLLM]:
    fake = FakeLLM(list(answers))
    fake.model = "scripted-model"
    context = RoleContext(settings=settings(review), llm=fake if llm else None)
    return VerifierRole(context), fake


@pytest.fixture(scope="module")
def reports():
    """One real passing report (the child against its parent) and one real failing one."""
    s = settings()
    common = dict(input_shape=SHAPE, num_classes=10, max_params=s.verify.max_params, max_flops=50_000_000)
    passing = verify_file(CHILD, parent=PARENT, **common)
    failing = verify_file(BROKEN, parent=PARENT, **common)
    assert passing.ok and not failing.ok, (passing.message, failing.message)
    return {CHILD: passing, BROKEN: failing}


@pytest.fixture
def cached(reports, monkeypatch):
    """The role's verify_file answers the module's reports instead of verifying again."""
    monkeypatch.setattr(verifier_module, "verify_file", lambda path, **kw: reports[Path(path)].model_copy())
    return reports


# -- when the LLM is asked --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    ["setting off", "no LLM", "checks failed", "no idea", "not an idea type"],
)
def test_the_llm_is_not_asked(cached, case):
    gate, fake = role({"realises": False, "reason": "never"}, review=case != "setting off", llm=case != "no LLM")
    given = {
        "checks failed": proposal(BROKEN),
        "no idea": proposal(idea=None, sub_category=None, idea_title=None),
        "not an idea type": proposal(mutation_type="pareto_tune", idea=None, sub_category=None),
    }.get(case, proposal())
    review = gate.review(given)
    assert fake.calls == []
    assert review.report["llm_review"] is None and "programmatic" not in review.report
    assert review.approved is (case != "checks failed")
    if case == "checks failed":
        assert review.code == cached[BROKEN].code and review.kind == "execution"


def test_a_rejection_shows_the_idea_diff_and_measurements_and_keeps_both_verdicts():
    """End to end with a real verification: the LLM says the idea is not realised."""
    gate, fake = role({"realises": False, "reason": "only a kernel size changed; no depthwise conv"})
    review = gate.review(proposal())
    assert len(fake.calls) == 1
    call = fake.calls[0]
    assert (call["candidate"], call["attempt"], call["purpose"]) == ("0005", 1, "verifier.review")
    assert call["schema"] is IdeaVerdict
    shown = fake.shown()
    params, flops = review.measurements["params"], review.measurements["flops"]
    for text in (
        TITLE,
        SUB,
        "A larger spatial kernel",
        "3x3 -> 5x5 kernel in the last convolution",
        "-            nn.Conv2d(64, 64, 3, padding=1, bias=False),",
        "+            nn.Conv2d(64, 64, 5, padding=2, bias=False),",
        f"{params:,} parameters (budget 1,500,000)",
        f"{flops:,} MACs per image (budget 50,000,000)",
        f"{review.measurements['weighted_layers']} weighted layers",
        "at least 3 required",
        '"realises"',
    ):
        assert text in shown, text
    assert not review.approved and review.kind == "review" and review.code == "idea_not_realised"
    assert review.message == "LLM review: only a kernel size changed; no depthwise conv"
    report = json.loads(json.dumps(review.report))  # what verify.json holds
    assert report["ok"] is False and report["code"] == "idea_not_realised" and report["message"] == review.message
    assert report["programmatic"] == {"ok": True, "code": "ok", "message": report["programmatic"]["message"]}
    assert report["llm_review"] == {
        "realises": False,
        "reason": "only a kernel size changed; no depthwise conv",
        "model": "scripted-model",
    }
    assert report["params"] == params and report["flops"] == flops and report["weighted_layers"]


def test_realises_true_approves_with_the_verdict_in_the_report(cached):
    gate, fake = role(IdeaVerdict(realises=True, reason="the kernel grows to 5x5"))
    review = gate.review(proposal(mutation_type="iterative"))
    assert review.approved and review.code == "ok" and review.kind == "ok"
    assert review.report["ok"] is True and "programmatic" not in review.report
    assert review.report["llm_review"] == {
        "realises": True,
        "reason": "the kernel grows to 5x5",
        "model": "scripted-model",
    }
    assert "apply this idea, then to make one more small refinement:" in fake.shown()


@pytest.mark.parametrize(
    "failure", [LLMError("timeout", "the server did not answer in 120 s"), LLMBudgetExhausted("llm.max_llm_calls = 3")]
)
def test_an_llm_failure_approves_on_the_programmatic_verdict_with_a_note(cached, failure):
    gate, fake = role(failure)
    review = gate.review(proposal())
    assert len(fake.calls) == 1
    assert review.approved and review.code == "ok" and review.report["ok"] is True
    assert review.report["llm_review"] == {"error": str(failure), "kind": failure.kind, "model": "scripted-model"}


def test_a_missing_idea_title_falls_back_to_the_id(cached):
    gate, fake = role({"realises": True, "reason": "yes"})
    gate.review(proposal(idea_title=None, idea_description=None))
    assert "idea: convnext-0003" in fake.shown()


# -- the prompt's size ------------------------------------------------------------------------------


def test_a_large_diff_is_cut_with_a_note_to_fit_the_context(cached, tmp_path):
    big = tmp_path / "model.py"
    body = CHILD.read_text() + "".join(
        f"# a long comment line number {i} that makes the file large\n" for i in range(3000)
    )
    big.write_text(body)
    gate, fake = role({"realises": True, "reason": "ok"})
    messages = gate.review_messages(proposal(big), cached[CHILD])
    total = sum(estimate_tokens(m["content"]) for m in messages)
    assert total <= 8192 - 2048
    user = messages[-1]["content"]
    assert "more diff lines left out" in user and TITLE in user and "1,500,000" in user
    assert "a long comment line number 0 " in user  # the start of the diff is kept
    gate.context.llm.settings = SimpleNamespace(context_tokens=4096, max_answer_tokens=1024)
    smaller = gate.review_messages(proposal(big), cached[CHILD])
    assert sum(estimate_tokens(m["content"]) for m in smaller) <= 4096 - 1024


def test_a_small_diff_is_shown_whole():
    lines = model_diff(PARENT, CHILD)
    assert lines[0] == "--- parent/model.py" and lines[1] == "+++ candidate/model.py"
    assert fit_diff(lines, 10_000) == "\n".join(lines)
    cut = fit_diff(lines, 200)
    assert len(cut) <= 200 and cut.endswith("left out: the diff is longer than the prompt's budget)")
    assert model_diff(CHILD, CHILD) == ["(no difference: the candidate's model.py is the parent's)"]
    assert len(model_diff(None, CHILD)) == len(CHILD.read_text().splitlines()) + 3  # two headers, one hunk


# -- who gets a client, and what the run header says ------------------------------------------------

LLM = dict(provider="openai", model="m", base_url="http://127.0.0.1:1/v1")


def test_with_the_setting_off_the_verifier_gets_no_client_and_says_why(monkeypatch):
    import graph.context

    monkeypatch.setattr(graph.context, "make_client", lambda llm, key, ledger: SimpleNamespace(role=key))
    off = settings(False, **LLM)
    assert llm_roles(off)["verifier"] == "builtin: LLM review off: verify.llm_review"
    assert "verifier: built-in (LLM review off: verify.llm_review)" in describe_roles(off)
    roles = make_roles(off, ledger=object())
    assert roles.gates["verifier"].context.llm is None and roles.mutation.context.llm.role == "mutation"
    on = settings(True, **LLM)
    assert llm_roles(on)["verifier"] == "llm"
    assert "verifier: LLM m at http://127.0.0.1:1/v1" in describe_roles(on)
    assert make_roles(on, ledger=object()).gates["verifier"].context.llm.role == "verifier"
    assert llm_roles(settings(True))["verifier"] == "builtin"  # no LLM configured


def test_fairnad_roles_names_the_setting():
    result = run_cli("roles", env={"FAIRNAD_LLM__PROVIDER": "openai", "FAIRNAD_LLM__MODEL": "m"})
    assert result.returncode == 0, result.stderr
    assert "LLM review off: verify.llm_review" in result.stdout.replace("\n", " ").replace("│", " ").replace("  ", " ")


# -- a whole run ------------------------------------------------------------------------------------

PROBE = "Reply with the word OK"


def reviewer(body: dict):
    """The probe gets OK; the verifier's first review says no; the mutation agent gets a wider model each time."""
    text = json.dumps(body["messages"])
    if PROBE in text:
        return answer("OK")
    if "code reviewer" in text:  # the first review says no, the next yes
        reviewer.reviews += 1  # type: ignore[attr-defined]
        realises = reviewer.reviews > 1  # type: ignore[attr-defined]
        return answer(json.dumps({"realises": realises, "reason": "the idea's gating branch is missing"}))
    reviewer.width += 8  # type: ignore[attr-defined]
    source = PARENT.read_text().replace("64", str(reviewer.width))  # type: ignore[attr-defined]
    return answer(f"```python\n{source}```")


@pytest.mark.allow_hosts(["127.0.0.1"])
@pytest.mark.timeout(300)
def test_a_run_sends_a_candidate_back_with_the_llm_reviewers_reason(tmp_path):
    run_dir = tmp_path / "run"
    reviewer.width, reviewer.reviews = 64, 0  # type: ignore[attr-defined]
    env = {
        "FAIRNAD_VERIFY__LLM_REVIEW": "true",
        "FAIRNAD_ROLES__RETRIES__REVIEW": "1",
        "FAIRNAD_SEARCH__MUTATION_MIX__FAIR_IDEA": "1",
        "FAIRNAD_SEARCH__MUTATION_MIX__PARETO": "0",
        "FAIRNAD_SEARCH__MUTATION_MIX__ITERATIVE": "0",
    }
    with ScriptedLLMServer(reviewer) as server:
        result = run_cli("run", "--run-dir", str(run_dir), "--budget", "2", "--llm", "scripted", "--llm-base-url",
                         server.base_url, "--seed-model", str(PARENT), "--dataset", "digits", "--epochs", "1",
                         "--mutation-mode", "code", "-q", env=env, timeout=240)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    trace = read_trace(run_dir)
    steps = [e for e in trace if e["event"] == "role_step" and e["role"] == "verifier" and e["candidate"] == "0001"]
    assert steps and steps[0]["code"] == "idea_not_realised" and steps[0]["tokens"]
    assert "sent back (review retry 1/1)" in steps[0]["decided"]
    assert steps[0]["message"] == "LLM review: the idea's gating branch is missing"
    calls = [e for e in trace if e["event"] == "llm_call" and e["role"] == "verifier"]
    assert calls and calls[0]["purpose"] == "verifier.review" and calls[0]["candidate"] == "0001"
    assert any(p.name.endswith("-verifier.json") for p in (run_dir / "candidates/0001/llm").iterdir())
    asked_again = [json.loads(p.read_text()) for p in sorted((run_dir / "candidates/0001/llm").glob("*-mutation.json"))]
    assert any("the idea's gating branch is missing" in json.dumps(a["messages"]) for a in asked_again[1:])
    assert steps[1]["decided"] == "approved" and steps[1]["code"] == "ok"  # the second attempt passes
    verify = json.loads((run_dir / "candidates/0001/verify.json").read_text())  # the last attempt's report
    assert verify["ok"] is True and verify["llm_review"]["realises"] is True
    rows = {c["id"]: c for c in read_summary(run_dir)["candidates"]}
    assert rows["0001"]["status"] == "trained"
