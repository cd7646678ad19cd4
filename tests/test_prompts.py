"""Every prompt declares its variables, and fits an 8k-token context for a 160-line parent with room to answer.

Tokens are estimated as ``ceil(characters / 3.5)`` (:func:`agents.prompts.estimate_tokens`).
"""

from __future__ import annotations

import math
import random
import re
from types import SimpleNamespace

import jinja2
import jinja2.meta
import pytest

from agents.mutation import MutationAgent
from agents.prompts import PROMPTS_DIR, declared_variables, estimate_tokens, prompt_names, render
from agents.records import MutationRequest, ReviewNote
from fairnad_tools.spaces import make_space
from tests.test_mutation_agent import FakeLLM, agent, fenced

pytestmark = pytest.mark.timeout(60)

CONTEXT = 8192
SPACE = make_space("open")
SEED = SPACE.seed("resnet32", (3, 32, 32))
# a realistic 160-line parent: the ResNet-32 seed with a transformer block and windowed attention
_arch, _ = SPACE.apply_idea(SEED, "block.block_design.transformer_block", random.Random(0))
_arch, _ = SPACE.apply_idea(_arch, "operation.attention.windowed_attention", random.Random(0))
PARENT = SPACE.render(_arch)
PARENT_SPEC = SPACE.dump(_arch)
LONG = "The verifier ran the model on a batch of two images and the forward pass failed. " * 30


def test_the_parent_is_about_160_lines():
    assert 150 <= len(PARENT.splitlines()) <= 175


_INCLUDE = re.compile(r'\{%-?\s*include\s+"([^"]+)"(?:\s*~\s*\w+\s*~\s*"([^"]+)")?\s*-?%\}')


def _takes(name: str) -> set[str]:
    """The variables template ``name`` uses, its own and those of every part it may include."""
    source = (PROMPTS_DIR / name).read_text(encoding="utf-8")
    used = set(jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(source)))
    for match in _INCLUDE.finditer(source):
        parts = (
            [p.name for p in PROMPTS_DIR.glob(f"{match.group(1)}*{match.group(2)}")]
            if match.group(2)
            else [match.group(1)]
        )
        assert parts, f"{name} includes {match.group(0)}, which names no file"
        for part in parts:
            used |= _takes(part)
    return used


@pytest.mark.parametrize("name", prompt_names())
def test_each_prompt_lists_exactly_the_variables_it_takes(name):
    assert declared_variables(name) == _takes(name), f"{name}: header lists {declared_variables(name)}"


def test_token_estimate_is_documented_ceil_chars_over_3_5():
    assert estimate_tokens("x" * 7) == 2 and estimate_tokens("x" * 8) == 3
    assert estimate_tokens(PARENT) == math.ceil(len(PARENT) / 3.5)


def _request(kind: str = "fair_idea", **kw) -> MutationRequest:
    base = dict(
        candidate_id="0012",
        mutation_type=kind,
        parent_id="0004",
        parent_spec=PARENT_SPEC,
        parent_source=PARENT,
        parent_params=1_234_567,
        parent_flops=150_000_000,
        input_shape=(3, 32, 32),
        idea="convnext-0003",
        idea_title="Large-kernel depthwise convolution",
        idea_description="A 7x7 depthwise convolution replaces the 3x3 convolution in each block. " * 8,
        idea_evidence="Top-1 accuracy rises by 0.7 points at the same FLOPs on ImageNet-1k. " * 12,
        idea_source="A ConvNet for the 2020s (Liu et al., 2022)",
        sub_category="operation.spatial_mixing.large_kernel_conv",
    )
    return MutationRequest(**{**base, **kw})


def _history(kind: str, code: str, previous: str) -> dict:
    older = [
        ReviewNote(role="verifier", code="forward_error", kind="execution", message=LONG, transformation="t")
        for _ in range(6)
    ]
    last = ReviewNote(role="critic" if kind == "review" else "verifier", code=code, kind=kind, message=LONG)
    return dict(attempt=7, feedback=[*older, last], previous_source=previous)


CHILD = PARENT.replace("nn.GELU", "nn.SiLU")
CASES = {
    "mutation_code": ("code", {}),
    "mutation_diff": ("diff", {}),
    "mutation_spec": ("spec", {}),
    "repair_execution": ("code", _history("execution", "forward_error", CHILD)),
    "repair_execution_diff": ("diff", _history("execution", "forward_error", CHILD)),
    "repair_budget": ("code", _history("budget", "over_param_budget", CHILD)),
    "repair_structure": ("diff", _history("structure", "not_modified", PARENT)),
    "repair_review": ("code", _history("review", "veto", CHILD)),
    "retry_after_truncation": ("code", _history("execution", "truncated", None)),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("kind", ["fair_idea", "pareto_tune", "pareto_scale_up", "iterative", "random_edit"])
def test_every_prompt_fits_8k_with_room_for_the_answer(case, kind):
    mode, extra = CASES[case]
    llm = FakeLLM([{"choice": 1, "reason": "r"}] if mode == "spec" else [fenced(CHILD)])
    role, _ = agent(mode)
    role.context.llm = llm
    if mode == "spec":  # the menu only: fitting the chosen option to the budget is not what is tested here
        role._fit_option = lambda option, note, budget: (option.arch, option.how)
    role.mutate(_request(kind, **extra))
    messages = llm.calls[0]["messages"]
    prompt = sum(estimate_tokens(m["content"]) for m in messages)
    answer_room = math.ceil(1.15 * estimate_tokens(PARENT))  # the whole new file, a little longer than the parent
    assert prompt + answer_room <= CONTEXT, f"{case}/{kind}: {prompt} + {answer_room} tokens"
    assert prompt <= CONTEXT - 2048  # the default llm.max_answer_tokens stays free
    user = messages[-1]["content"]
    if mode != "spec":  # the source is never shortened: the parent, or the rejected file being repaired
        assert (extra.get("previous_source") or PARENT).strip() in user or PARENT.strip() in user


def test_each_template_renders_with_realistic_inputs():
    variables = dict(
        mutation_type="fair_idea",
        idea_title="Large-kernel depthwise convolution",
        idea_description="A 7x7 depthwise convolution.",
        idea_evidence=None,
        idea_source="ConvNeXt",
        sub_category="operation.spatial_mixing.large_kernel_conv",
        parent_params=464_154,
        parent_flops=69_117_952,
        max_params=1_500_000,
        max_flops=200_000_000,
        input_shape=(3, 32, 32),
        allowed_modules=["collections", "math", "torch"],
        min_layers=3,
        notes=["execution `forward_error` from verifier: shape mismatch"],
        parent_source=PARENT,
        previous_source=CHILD,
        parent_summary="resnet32 with windows",
        options=["idea(a)", "idea(b)"],
        answer="diff",
        code="forward_error",
        message="line 3: boom",
        failing_line="line 3: import torch",
        role="critic",
        rejected="idea(a)",
        problem="edit 1: absent",
        iter_step=None,
        analysis="- attention helped twice",
        history=[
            dict(id="0003", mutation_type="fair_idea", idea="se-1", idea_title="SE", sub_category="a.b.c",
                 transformation="idea(se)", val_acc=0.91, params=400_000, flops=12_000_000, poor=False),
            dict(id="0001", mutation_type="pareto_tune", idea=None, idea_title=None, sub_category=None,
                 transformation=None, val_acc=None, params=None, flops=None, poor=True),
        ],
        related_ideas=[dict(id="eca-1", title="ECA", sub_category="a.b.c", description="1-D conv attention")],
        transformation="large-kernel depthwise convolution in stage 2",
        diff="--- parent/model.py\n+++ candidate/model.py\n@@ -1 +1 @@\n-k = 3\n+k = 7",
        params=500_000,
        flops=70_000_000,
        weighted_layers=33,
        lessons="## Helped\n- large kernels (+1.2 points in 0003)",
        round=2,
        outcomes=['0003 (fair_idea, idea "Large kernels"): trained, val acc 91.00% vs parent 89.80% (+1.20 points)'],
        sub_categories=["operation.spatial_mixing.large_kernel_conv: tried 1, improved 1, failed 0, vetoed 0"],
        previous="## Hurt\n- attention over budget",
    )  # fmt: skip
    for name in prompt_names():
        text = render(name, **variables)
        assert text.strip() and "{{" not in text and "{%" not in text, name


def test_history_is_shortened_oldest_first_and_the_parent_never():
    llm = FakeLLM([fenced(CHILD)], settings=SimpleNamespace(context_tokens=4096, max_answer_tokens=1024))
    role = MutationAgent(agent("code")[0].context)
    role.context.llm = llm
    role.mutate(_request(**_history("execution", "forward_error", CHILD)))
    user = llm.calls[0]["messages"][-1]["content"]
    assert CHILD.strip() in user
    assert user.count("execution `forward_error` from verifier (t)") < 6


@pytest.mark.parametrize("mode", ["code", "diff", "spec"])
@pytest.mark.parametrize("step", [1, 2])
def test_iterative_prompts_with_a_full_history_and_long_lessons_fit_8k(mode, step):
    from agents.records import HistoryEntry, RelatedIdea

    history = [
        HistoryEntry(id=f"{i:04d}", mutation_type="fair_idea", idea=f"idea-{i}", idea_title="A long idea title " * 4,
                     sub_category="operation.attention.windowed_attention", transformation="idea(stage 2: " + "x" * 300,
                     val_acc=0.9, params=1_400_000, flops=190_000_000, poor=i >= 5)
        for i in range(7)
    ]  # fmt: skip
    related = [RelatedIdea(id=f"r{i}", title="Related idea " * 3, sub_category="a.b.c", description="d" * 240)
               for i in range(5)]  # fmt: skip
    extra = dict(iter_step=step, history=history, related_ideas=related, lessons="- a lesson that is long. " * 40)
    if step == 2:
        extra.update(step1_source=CHILD, step1_spec=PARENT_SPEC, analysis="- an analysis line. " * 40, attempt=1)
    answers = [] if step == 2 else ["- " + "analysis " * 100]
    answers.append({"choice": 1, "reason": "r"} if mode == "spec" else fenced(CHILD))
    llm = FakeLLM(answers)
    role, _ = agent(mode)
    role.context.llm = llm
    if mode == "spec":
        role._fit_option = lambda option, note, budget: (option.arch, option.how)
    role.mutate(_request("iterative", **extra))
    for call in llm.calls:
        prompt = sum(estimate_tokens(m["content"]) for m in call["messages"])
        room = 400 if call["purpose"] == "mutation.analysis" else math.ceil(1.15 * estimate_tokens(PARENT))
        assert prompt + room <= CONTEXT and prompt <= CONTEXT - 2048, (call["purpose"], prompt)
    if step == 1:
        assert "0006 (a poor one)" in llm.shown(0)
