"""The mutation agent with a scripted LLM: what it is shown in each mode and what it makes of the answers."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from agents.answers import code_structure_hash
from agents.base import RoleContext
from agents.mutation import MutationAgent, MutationFailed, MutationRetry, resolve_mode
from agents.records import MutationRequest, ReviewNote
from fairnad_tools.spaces import make_space
from graph.settings import FairNADSettings

pytestmark = pytest.mark.timeout(60)

SPACE = make_space("open")
SEED = SPACE.seed("resnet32", (3, 32, 32))
PARENT_SPEC = SPACE.dump(SEED)
PARENT = SPACE.render(SEED)
IDEA = "operation.attention.windowed_attention"
CHILD = PARENT.replace("act=nn.ReLU, tail=nn.Identity", "act=nn.GELU, tail=nn.Identity")
assert CHILD != PARENT


class ScriptedLLMError(RuntimeError):
    """What the real client raises when a call fails (stands in for agents.llm.LLMError)."""


@dataclass
class Reply:
    text: str
    finish_reason: str | None = "stop"
    truncated: bool = False
    exchange: Any = None


@dataclass
class FakeLLM:
    """Answers chat() and structured() from a script, in order, and records every call.

    A script item is a reply text, a ``(text, finish_reason)`` pair, a dict for ``structured``
    (validated against the schema, as the real client does), an object returned as it is, or an
    exception to raise.
    """

    script: list[Any]
    calls: list[dict[str, Any]] = field(default_factory=list)
    settings: Any = field(default_factory=lambda: SimpleNamespace(context_tokens=8192, max_answer_tokens=2048))

    def _next(self, kind: str, messages, candidate, attempt, purpose, schema=None):
        self.calls.append(
            dict(kind=kind, messages=messages, candidate=candidate, attempt=attempt, purpose=purpose, schema=schema)
        )
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def chat(self, messages, *, candidate, attempt, purpose, max_tokens=None) -> Reply:
        item = self._next("chat", messages, candidate, attempt, purpose)
        text, finish = item if isinstance(item, tuple) else (item, "stop")
        return Reply(text, finish, finish == "length")

    def structured(self, messages, schema, *, candidate, attempt, purpose):
        item = self._next("structured", messages, candidate, attempt, purpose, schema)
        if isinstance(item, dict):
            try:
                return schema.model_validate(item)
            except ValidationError as exc:
                raise ScriptedLLMError(f"bad_answer: {exc}") from exc
        return item

    def shown(self, call: int = -1) -> str:
        """Everything the model was shown in one call (system, user and any later turns)."""
        return "\n".join(m["content"] for m in self.calls[call]["messages"])


def agent(mode: str, *answers: Any, spec_choices: int = 4) -> tuple[MutationAgent, FakeLLM]:
    llm = FakeLLM(list(answers))
    settings = SimpleNamespace(
        mutation=SimpleNamespace(mode=mode, spec_choices=spec_choices), verify=SimpleNamespace(min_layers=3)
    )
    return MutationAgent(RoleContext(settings=settings, llm=llm, space=SPACE)), llm


def request(kind: str = "fair_idea", **kw: Any) -> MutationRequest:
    base: dict[str, Any] = dict(
        candidate_id="0007",
        mutation_type=kind,
        parent_id="0003",
        parent_spec=PARENT_SPEC,
        parent_source=PARENT,
        parent_params=464_154,
        parent_flops=69_117_952,
        input_shape=(3, 32, 32),
    )
    if kind in ("fair_idea", "iterative"):
        base.update(
            idea="swin-0001",
            idea_title="Shifted-window self-attention",
            idea_description="Self-attention inside non-overlapping local windows, shifted between blocks.",
            idea_evidence="ImageNet top-1 +1.2 over a ResNet of the same size",
            idea_source="Swin Transformer (Liu et al., 2021)",
            sub_category=IDEA,
        )
    return MutationRequest(**{**base, **kw})


def fenced(code: str) -> str:
    return f"Here is the model.\n\n```python\n{code}```\n"


# -- code mode ------------------------------------------------------------------------------------


def test_code_mode_shows_parent_idea_budgets_and_measurements():
    role, llm = agent("code", fenced(CHILD))
    result = role.mutate(request())
    assert result.source == CHILD and result.spec is None and result.mode == "code"
    assert result.structure_hash == code_structure_hash(CHILD)
    call = llm.calls[0]
    assert (call["candidate"], call["attempt"], call["purpose"]) == ("0007", 0, "mutation.code")
    system, user = (m["content"] for m in call["messages"])
    assert "build_model(num_classes: int) -> torch.nn.Module" in system
    assert "1,500,000 parameters" in system and "200,000,000 multiply-accumulates" in system
    assert "(N, 3, 32, 32)" in system and "torch, " not in system.split("only these modules:")[0]
    assert "collections" in system and "math" in system
    assert PARENT.strip() in user
    for text in ("Shifted-window self-attention", "non-overlapping local windows", "+1.2", "Swin Transformer", IDEA):
        assert text in user
    assert "464,154 parameters" in user and "69,117,952 MACs" in user
    assert "complete new model.py in one ```python block" in user


@pytest.mark.parametrize(
    "kind,phrases",
    [
        ("pareto_scale_up", ["Scale it up", "deeper", "wider"]),
        (
            "pareto_tune",
            ["kernel size", "expansion ratio", "attention heads", "channel split", "without changing depth"],
        ),
        ("iterative", ["Iterative mutation", "Shifted-window self-attention", "one more small refinement"]),
    ],
)
def test_code_mode_states_the_operation_of_each_type(kind, phrases):
    role, llm = agent("code", fenced(CHILD))
    role.mutate(request(kind))
    for phrase in phrases:
        assert phrase in llm.shown()


def test_think_wrapped_unfenced_answer_is_taken():
    role, _ = agent("code", f"<think>Let me use GELU.</think>\n{CHILD}")
    assert role.mutate(request()).source == CHILD


@pytest.mark.parametrize(
    "answer,code",
    [
        ((fenced(CHILD), "length"), "truncated"),
        (f"```python\n{CHILD[:1500]}", "truncated"),
        (
            CHILD[: CHILD.index("def build_model")]
            + "class Extra(nn.Module):\n    def __init__(self):\n        self.op = nn.Con",
            "truncated",
        ),
        ("I would add attention to each block.", "no_code"),
    ],
)
def test_unusable_answers_raise_mutation_retry(answer, code):
    role, _ = agent("code", answer)
    with pytest.raises(MutationRetry) as caught:
        role.mutate(request())
    assert caught.value.code == code and caught.value.message


def test_unchanged_answer_is_returned_for_the_verifier_to_reject():
    role, _ = agent("code", fenced(PARENT))
    result = role.mutate(request())
    assert result.source == PARENT and result.structure_hash == code_structure_hash(PARENT)


def test_llm_errors_propagate():
    role, _ = agent("code", ScriptedLLMError("timeout"))
    with pytest.raises(ScriptedLLMError):
        role.mutate(request())


def test_a_chat_model_that_is_not_a_client_is_refused_clearly():
    role = MutationAgent(RoleContext(settings=SimpleNamespace(), llm=object(), space=SPACE))
    with pytest.raises(TypeError, match="chat"):
        role.mutate(request())


# -- diff mode ------------------------------------------------------------------------------------

GOOD_DIFF = """\
<<<<<<< SEARCH
    block = partial(BasicBlock, mixer=ConvKxK, norm=nn.BatchNorm2d, act=nn.ReLU, tail=nn.Identity)
=======
    block = partial(BasicBlock, mixer=ConvKxK, norm=nn.BatchNorm2d, act=nn.GELU, tail=nn.Identity)
>>>>>>> REPLACE
"""
BAD_DIFF = """\
```python
<<<<<<< SEARCH
        self.attention = Attention(ch)
=======
        self.attention = WindowAttention(ch)
>>>>>>> REPLACE
```
"""


def test_diff_mode_applies_edits_to_the_parent():
    role, llm = agent("diff", GOOD_DIFF)
    result = role.mutate(request())
    assert result.source.strip() == CHILD.strip() and result.mode == "diff" and result.spec is None
    assert llm.calls[0]["purpose"] == "mutation.diff"
    assert "<<<<<<< SEARCH" in llm.shown() and PARENT.strip() in llm.shown()


def test_diff_that_does_not_apply_is_reasked_once_with_the_reason():
    role, llm = agent("diff", BAD_DIFF, GOOD_DIFF)
    result = role.mutate(request())
    assert result.source.strip() == CHILD.strip()
    assert len(llm.calls) == 2
    second = llm.calls[1]["messages"]
    assert second[-2] == {"role": "assistant", "content": BAD_DIFF}
    assert "edit 1: the SEARCH text is not in the file" in second[-1]["content"]
    assert "self.attention = Attention(ch)" in second[-1]["content"]


def test_diff_that_fails_twice_raises_mutation_retry():
    role, llm = agent("diff", BAD_DIFF, BAD_DIFF)
    with pytest.raises(MutationRetry) as caught:
        role.mutate(request())
    assert caught.value.code == "edits_do_not_apply" and "edit 1" in caught.value.message
    assert len(llm.calls) == 2


def test_diff_mode_takes_a_whole_file_answer_as_code():
    role, _ = agent("diff", fenced(CHILD))
    result = role.mutate(request())
    assert result.source == CHILD and result.mode == "code"


# -- spec mode ------------------------------------------------------------------------------------


def test_spec_mode_offers_a_menu_and_renders_the_choice():
    role, llm = agent("spec", {"choice": 2, "reason": "windows keep the cost low"})
    menu = role.spec_menu(request())
    role, llm = agent("spec", {"choice": 2, "reason": "windows keep the cost low"})
    result = role.mutate(request())
    assert 2 <= len(menu) <= 4
    assert len({o.structure_hash for o in menu}) == len(menu)
    assert SPACE.structure_hash(SEED) not in {o.structure_hash for o in menu}
    chosen, _ = SPACE.downscale(menu[1].arch, (1_500_000, 200_000_000))
    assert result.mode == "spec" and result.spec == SPACE.dump(chosen)
    assert result.source == SPACE.render(chosen) and result.structure_hash == SPACE.structure_hash(chosen)
    assert result.transformation.startswith(menu[1].how)
    assert "spec choice 2/" in result.transformation and "windows keep the cost low" in result.transformation
    call = llm.calls[0]
    assert call["kind"] == "structured" and call["purpose"] == "mutation.spec"
    shown = llm.shown()
    for number, option in enumerate(menu, 1):
        assert f"{number}. {option.how}" in shown
    assert "Shifted-window self-attention" in shown and '"choice"' in shown


def test_spec_choice_out_of_range():
    role, _ = agent("spec", {"choice": 9, "reason": "?"})
    with pytest.raises(ScriptedLLMError, match="bad_answer"):  # the schema bounds the choice: the client refuses it
        role.mutate(request())
    role, _ = agent("spec", SimpleNamespace(choice=0, reason="?"))  # a client that does not check bounds
    with pytest.raises(MutationRetry) as caught:
        role.mutate(request())
    assert caught.value.code == "bad_choice" and "1 to" in caught.value.message


def test_spec_budget_repair_downscales_without_asking():
    wide = dict(PARENT_SPEC, stages=[dict(stage, width=stage["width"] * 2) for stage in PARENT_SPEC["stages"]])
    big = SPACE.load(wide)  # about 1.85 M parameters: over 1.5 M
    note = ReviewNote(role="verifier", code="over_param_budget", kind="budget", message="over", transformation="x")
    role, llm = agent("spec")
    result = role.mutate(request("pareto_scale_up", attempt=1, previous_spec=SPACE.dump(big), feedback=[note]))
    assert llm.calls == [] and result.mode == "spec"
    assert result.structure_hash != SPACE.structure_hash(big)


def test_spec_mode_on_a_code_only_parent_edits_the_code():
    role, llm = agent("spec", GOOD_DIFF)
    result = role.mutate(request(parent_spec=None))
    assert result.mode == "diff" and llm.calls[0]["purpose"] == "mutation.diff"


# -- auto -----------------------------------------------------------------------------------------


def test_auto_rule():
    realisable = SPACE.realisable_sub_categories()
    assert resolve_mode("auto", request(), realisable) == "spec"
    assert resolve_mode("auto", request(sub_category="operation.made_up.thing"), realisable) == "diff"
    assert resolve_mode("auto", request(parent_spec=None), realisable) == "diff"
    cut = ReviewNote(role="verifier", code="over_param_budget", kind="budget", message="over")
    assert resolve_mode("auto", request(feedback=[cut], previous_source=CHILD), realisable) == "diff"
    assert resolve_mode(
        "auto", request(feedback=[cut], previous_source=CHILD, previous_spec=PARENT_SPEC), realisable
    ) == ("spec")
    for kind in ("pareto_scale_up", "pareto_tune", "random_edit"):
        assert resolve_mode("auto", request(kind), realisable) == "spec"
    assert resolve_mode("auto", request("seed", parent_spec=None, parent_id=None), realisable) == "builtin"
    assert resolve_mode("code", request(), realisable, uses_llm=False) == "builtin"
    with pytest.raises(ValueError, match="valid: auto, code, diff, spec"):
        resolve_mode("free", request(), realisable)


def test_auto_edits_code_for_an_idea_the_space_cannot_realise():
    role, llm = agent("auto", GOOD_DIFF)
    result = role.mutate(request(sub_category="operation.made_up.thing"))
    assert result.mode == "diff" and "operation.made_up.thing" in llm.shown()


def test_realisable_sub_categories_by_mode():
    assert agent("code")[0].realisable_sub_categories() is None
    assert agent("diff")[0].realisable_sub_categories() is None
    assert agent("auto")[0].realisable_sub_categories() is None
    assert agent("spec")[0].realisable_sub_categories() == SPACE.realisable_sub_categories()


# -- repair ---------------------------------------------------------------------------------------

BROKEN = CHILD.replace("nn.Linear(64, num_classes)", "nn.Linear(128, num_classes)")
BROKEN_LINE = next(i for i, line in enumerate(BROKEN.splitlines(), 1) if "nn.Linear(128" in line)


def note(kind: str, code: str, message: str, role: str = "verifier", transformation: str | None = None) -> ReviewNote:
    return ReviewNote(role=role, code=code, kind=kind, message=message, transformation=transformation)


def test_execution_repair_shows_the_error_the_failing_line_and_the_rejected_source():
    message = f"forward failed at line {BROKEN_LINE}: mat1 and mat2 shapes cannot be multiplied (2x64 and 128x10)"
    role, llm = agent("code", fenced(CHILD))
    older = note("budget", "over_flops_budget", "an older complaint")
    result = role.mutate(
        request(attempt=2, previous_source=BROKEN, feedback=[older, note("execution", "forward_error", message)])
    )
    assert result.source == CHILD and llm.calls[0]["attempt"] == 2
    shown = llm.shown()
    assert BROKEN.strip() in shown and message in shown
    assert f"line {BROKEN_LINE}: head=nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128" in shown
    assert "Fix the error" in shown and "Shifted-window self-attention" in shown
    assert "an older complaint" in shown  # the history, oldest first


def test_budget_repair_of_a_code_only_candidate_downscales_keeping_the_idea():
    message = "2.100M parameters, budget 1.500M: 0.600M (40%) over; reduce width or depth"
    role, llm = agent(
        "diff",
        GOOD_DIFF.replace("act=nn.ReLU", "act=nn.GELU").replace(
            "nn.GELU, tail=nn.Identity)\n>", "nn.SiLU, tail=nn.Identity)\n>"
        ),
    )
    result = role.mutate(
        request(
            parent_spec=None, attempt=1, previous_source=CHILD, feedback=[note("budget", "over_param_budget", message)]
        )
    )
    shown = llm.shown()
    assert message in shown and "Downscale it to fit" in shown and "Keep the idea" in shown
    assert "1,500,000 parameters" in shown and CHILD.strip() in shown
    assert result.spec is None and "act=nn.SiLU" in result.source  # the edits applied to the rejected source


def test_structure_repair_asks_for_a_real_change_of_the_parent():
    message = "the architecture is identical to the parent's; make a real structural change"
    role, llm = agent("code", fenced(CHILD))
    role.mutate(request(attempt=1, previous_source=PARENT, feedback=[note("structure", "not_modified", message)]))
    shown = llm.shown()
    assert "Make a real change" in shown and message in shown and PARENT.strip() in shown


def test_review_repair_asks_for_a_different_change():
    veto = note("review", "veto", "attention at 32x32 is too slow here", role="critic", transformation="idea(window)")
    role, llm = agent("code", fenced(CHILD))
    role.mutate(request(attempt=1, feedback=[veto]))
    shown = llm.shown()
    assert "critic" in shown and "idea(window)" in shown and "different change" in shown


def test_retry_after_an_unusable_answer_repeats_the_task_with_the_reason():
    cut = note(
        "execution", "truncated", "the answer was cut short: it stopped at the answer length limit", role="mutation"
    )
    role, llm = agent("code", fenced(CHILD))
    role.mutate(request(attempt=1, feedback=[cut], previous_source=BROKEN))  # an older file is not repaired
    shown = llm.shown()
    assert "cut short" in shown and PARENT.strip() in shown and "Write the new model.py" in shown
    assert BROKEN.strip() not in shown


# -- no LLM: the built-in policy ------------------------------------------------------------------


def test_builtin_policy_is_unchanged_without_an_llm():
    role = MutationAgent(RoleContext(settings=FairNADSettings()))
    result = role.mutate(request())
    expected, how = SPACE.apply_idea(SEED, IDEA, random.Random("0:0007:0:0"))
    expected, _ = SPACE.downscale(expected, (1_500_000, 200_000_000))
    assert result.mode == "builtin" and result.spec == SPACE.dump(expected)
    assert result.transformation.startswith(how) and result.source == SPACE.render(expected)
    assert role.realisable_sub_categories() == SPACE.realisable_sub_categories()
    with pytest.raises(MutationFailed, match="edits specs only"):
        role.mutate(request(parent_spec=None))
