"""Mutation role: turns a parent architecture and an idea into a new candidate.

Reads: the parent's spec (and source), the mutation type chosen by the planner, the idea
to apply (with its sub-category), the budgets, and on a retry the reviews that rejected
the last attempt.
Writes: a new spec and its rendered ``model.py`` source (the graph stores them).
Decides: which typed transformation realises the request: ``apply_idea`` through the
realisation table for ``fair_idea``; a deeper or wider step for ``pareto_scale_up``; a
hyperparameter change that keeps depth and width for ``pareto_tune``; the idea plus a
second refinement for ``iterative``; a downscale whenever the result is over budget or a
gate said so.

Built-in policy (no LLM): typed transformations of the architecture spec
(:mod:`fairnad_tools.arch.edits`, :mod:`~fairnad_tools.arch.budget`, :mod:`~fairnad_tools.arch.realise`) rendered by :func:`fairnad_tools.arch.render`.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, Field

from agents.base import Role
from agents.registry import register_role
from fairnad_tools.arch import ArchSpec, EditRefused, Transformation, apply_idea, downscale, realisable, render, seed
from fairnad_tools.arch.budget import scale_up
from fairnad_tools.arch.edits import GENERIC, change_hyperparameter, swap_module


class MutationFailed(RuntimeError):
    """The role could not produce a candidate for this request (the message says why)."""


class MutationRequest(BaseModel):
    candidate_id: str
    mutation_type: str
    parent_id: str | None = None
    parent_spec: dict[str, Any] | None = None
    parent_source: str | None = None
    idea: str | None = None
    idea_title: str | None = None
    sub_category: str | None = None
    input_shape: tuple[int, int, int]
    max_params: int = 1_500_000
    max_flops: int = 200_000_000
    seed_model: str = "resnet32"
    attempt: int = 0
    previous_spec: dict[str, Any] | None = Field(
        default=None, description="the spec of the attempt that was just rejected"
    )
    feedback: list[dict[str, Any]] = Field(
        default_factory=list, description="reviews of earlier attempts: role, code, kind, message"
    )
    seed: int = 0
    variant: int = Field(default=0, description="asks for a different edit (after a duplicate)")


class MutationResult(BaseModel):
    spec: dict[str, Any] | None
    source: str
    transformation: str
    structure_hash: str


@register_role("mutation")
class MutationRole(Role):
    summary = "applies an idea or a Pareto-aware transformation to a parent spec and renders model.py"
    reads = "parent spec/source, mutation type, idea and sub-category, budgets, rejections of the last try"
    writes = "spec.json and model.py of the new candidate"
    decides = "which typed transformation realises the idea; downscale when over budget"

    def realisable_sub_categories(self) -> set[str] | None:
        """Sub-categories this role can realise; ``None`` means any (an LLM writes code)."""
        return realisable()

    def mutate(self, request: MutationRequest) -> MutationResult:
        rng = random.Random(f"{request.seed}:{request.candidate_id}:{request.attempt}:{request.variant}")
        budget = (request.max_params, request.max_flops)
        last = request.feedback[-1] if request.feedback else None
        try:
            if last is not None and last.get("kind") == "budget" and request.previous_spec:
                # a gate measured the attempt over budget: shrink it, keeping what it changed
                spec, step = downscale(ArchSpec.model_validate(request.previous_spec), budget)
                how = f"{last.get('transformation') or ''} + {step}".lstrip(" +")
            elif request.mutation_type == "seed":
                spec, how = seed(request.seed_model, request.input_shape), f"seed({request.seed_model})"
                spec, how = self._fit(spec, how, budget)
            else:
                spec, how = self._edit(request, rng, budget)
        except EditRefused as exc:
            raise MutationFailed(f"{request.mutation_type} of parent {request.parent_id}: {exc}") from exc
        return MutationResult(
            spec=spec.model_dump(mode="json"),
            source=render(spec),
            transformation=how,
            structure_hash=spec.structure_hash(),
        )

    def _fit(self, spec: ArchSpec, how: str, budget: tuple[int, int]) -> tuple[ArchSpec, str]:
        fitted, step = downscale(spec, budget)
        return fitted, how if fitted == spec else f"{how} + {step}"

    def _edit(self, request: MutationRequest, rng: random.Random, budget: tuple[int, int]) -> tuple[ArchSpec, str]:
        if request.parent_spec is None:
            raise MutationFailed(
                f"parent {request.parent_id} has no spec.json; the built-in mutation role edits specs only"
            )
        parent = ArchSpec.model_validate(request.parent_spec)
        if request.mutation_type in ("fair_idea", "iterative"):
            if not request.sub_category:
                raise MutationFailed(f"{request.mutation_type} needs an idea with a sub-category")
            spec, step = apply_idea(parent, request.sub_category, rng)
            how = f"{step} [idea {request.idea}]" if request.idea else str(step)
            if request.mutation_type == "iterative":  # a second refinement on another attribute
                spec, second = self._generic(spec, rng, ("hyperparameter", "insert", "swap"))
                how = f"{how} + {second}"
        elif request.mutation_type == "pareto_scale_up":
            spec, step = scale_up(parent, budget, rng)
            how = str(step)
        elif request.mutation_type == "pareto_tune":
            try:
                spec, step = change_hyperparameter(parent, rng)
            except EditRefused:  # nothing numeric to tune: swap a module choice instead
                spec, step = swap_module(parent, rng)
            how = str(step)
        else:  # a baseline's name: one random transformation of any kind
            spec, step = self._generic(parent, rng, tuple(GENERIC))
            how = str(step)
        return self._fit(spec, how, budget)

    @staticmethod
    def _generic(spec: ArchSpec, rng: random.Random, kinds: tuple[str, ...]) -> tuple[ArchSpec, Transformation]:
        order = list(kinds)
        rng.shuffle(order)
        reasons = []
        for kind in order:
            try:
                return GENERIC[kind](spec, rng)
            except EditRefused as exc:
                reasons.append(str(exc))
        raise EditRefused("; ".join(reasons))
