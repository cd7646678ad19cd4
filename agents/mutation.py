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

Built-in policy (no LLM): the edits of the configured search space (``search.space``,
:mod:`fairnad_tools.spaces`); for the ``open`` space, typed transformations of the
architecture spec rendered to PyTorch source. After a veto (a gate's ``review`` rejection)
the graph asks again with a new ``variant`` until the edit differs from the vetoed one.
"""

from __future__ import annotations

import random
from typing import Any

from agents.base import MutationRole
from agents.records import MutationFailed, MutationRequest, MutationResult
from agents.registry import register_role
from fairnad_tools.spaces import Budget, EditRefused, SearchSpace, make_space

__all__ = ["BuiltinMutation", "MutationFailed", "MutationRequest", "MutationResult"]


@register_role("mutation")
class BuiltinMutation(MutationRole):
    """The offline mutation policy: one typed edit of the search space per request."""

    summary = "applies an idea or a Pareto-aware transformation to a parent spec and renders model.py"
    reads = "parent spec/source, mutation type, idea and sub-category, budgets, rejections of the last try"
    writes = "spec.json and model.py of the new candidate"
    decides = "which typed transformation realises the idea; downscale when over budget"

    @property
    def space(self) -> SearchSpace:
        """The search space whose edits this role applies (``search.space``)."""
        if self.context.space is None:
            self.context.space = make_space(self.context.settings.search.space)
        return self.context.space

    def realisable_sub_categories(self) -> set[str] | None:
        """The sub-categories the space can realise (all 55 for the ``open`` space)."""
        return self.space.realisable_sub_categories()

    def mutate(self, request: MutationRequest) -> MutationResult:
        """One candidate for ``request``; raises :class:`MutationFailed` when no edit applies."""
        space = self.space
        rng = random.Random(f"{request.seed}:{request.candidate_id}:{request.attempt}:{request.variant}")
        budget = (request.max_params, request.max_flops)
        last = request.feedback[-1] if request.feedback else None
        try:
            if last is not None and last.kind == "budget" and request.previous_spec:
                # a gate measured the attempt over budget: shrink it, keeping what it changed
                arch, step = space.downscale(space.load(request.previous_spec), budget)
                how = f"{last.transformation or ''} + {step}".lstrip(" +")
            elif request.mutation_type == "seed":
                arch = space.seed(request.seed_model, request.input_shape)
                arch, how = self._fit(arch, f"seed({request.seed_model})", budget)
            else:
                arch, how = self._edit(request, rng, budget)
        except EditRefused as exc:
            raise MutationFailed(f"{request.mutation_type} of parent {request.parent_id}: {exc}") from exc
        return MutationResult(
            spec=space.dump(arch),
            source=space.render(arch),
            transformation=how,
            structure_hash=space.structure_hash(arch),
        )

    def _fit(self, arch: Any, how: str, budget: Budget) -> tuple[Any, str]:
        fitted, step = self.space.downscale(arch, budget)
        return fitted, how if fitted == arch else f"{how} + {step}"

    def _edit(self, request: MutationRequest, rng: random.Random, budget: Budget) -> tuple[Any, str]:
        space = self.space
        if request.parent_spec is None:
            raise MutationFailed(
                f"parent {request.parent_id} has no spec.json; the built-in mutation role edits specs only"
            )
        parent = space.load(request.parent_spec)
        kind = request.mutation_type
        if kind in ("fair_idea", "iterative"):
            if not request.sub_category:
                raise MutationFailed(f"{kind} needs an idea with a sub-category")
            arch, how = space.apply_idea(parent, request.sub_category, rng)
            if request.idea:
                how = f"{how} [idea {request.idea}]"
            if kind == "iterative":  # a second refinement on another attribute
                kinds = [k for k in ("hyperparameter", "insert", "swap") if k in space.edit_kinds] or None
                arch, second = space.random_edit(arch, rng, kinds)
                how = f"{how} + {second}"
        elif kind == "pareto_scale_up":
            arch, how = space.scale_up(parent, budget, rng)
        elif kind == "pareto_tune":
            arch, how = space.tune(parent, rng)
        elif kind == "random_edit":
            arch, how = space.random_edit(parent, rng)
        else:  # a type added to MutationType without a branch here
            raise MutationFailed(f"the built-in mutation role has no edit for mutation type {kind!r}")
        return self._fit(arch, how, budget)
