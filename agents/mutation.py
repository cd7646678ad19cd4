"""Mutation role: turns a parent architecture and an idea into a new candidate.

Reads: the parent's spec (and source), the mutation type chosen by the planner, the idea
to apply (with its sub-category), and on a retry the reviews that rejected the last attempt.
Writes: a new spec and its rendered ``model.py`` source (the graph stores them).
Decides: which typed edit realises the request: an edit from the idea's sub-category for
``fair_idea``, widen/deepen for ``pareto_scale_up``, a depth- and width-preserving tweak
for ``pareto_tune``, idea + tweak for ``iterative``, and a downscale after a budget failure.

Built-in policy (no LLM): typed spec transformations (:mod:`fairnad_tools.transforms`),
rendered with :func:`fairnad_tools.spec.render_model_source`; never throwaway code edits.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, Field

from agents.base import Role
from agents.registry import register_role
from fairnad_tools.spec import ArchSpec, render_model_source, resnet32
from fairnad_tools.transforms import (
    SCALE_UP_EDITS,
    SUB_CATEGORY_EDITS,
    TUNE_EDITS,
    EditRefused,
    apply_first,
    downscale,
)


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
    summary = "applies an idea or a Pareto-aware edit to a parent and renders model.py"
    reads = "parent spec/source, mutation type, idea and sub-category, rejections of the last try"
    writes = "spec.json and model.py of the new candidate"
    decides = "which typed edit realises the idea; downscale after a budget failure"

    def realisable_sub_categories(self) -> set[str] | None:
        """Sub-categories this role can realise; ``None`` means any (an LLM writes code)."""
        return set(SUB_CATEGORY_EDITS)

    def mutate(self, request: MutationRequest) -> MutationResult:
        rng = random.Random(f"{request.seed}:{request.candidate_id}:{request.attempt}:{request.variant}")
        last = request.feedback[-1] if request.feedback else None
        if last is not None and last.get("kind") == "budget" and request.previous_spec:
            # over a budget: shrink the attempt that was rejected, keeping what it changed
            try:
                spec, how = downscale(ArchSpec.model_validate(request.previous_spec), rng)
            except EditRefused as exc:
                raise MutationFailed(f"cannot downscale further: {exc}") from exc
            how = f"{last.get('transformation') or ''} + {how}".lstrip(" +")
        elif request.mutation_type == "seed":
            spec, how = resnet32(request.input_shape), "seed(resnet32)"
        else:
            spec, how = self._edit(request, rng)
        return MutationResult(
            spec=spec.model_dump(mode="json"),
            source=render_model_source(spec),
            transformation=how,
            structure_hash=spec.structure_hash(),
        )

    def _edit(self, request: MutationRequest, rng: random.Random) -> tuple[ArchSpec, str]:
        if request.parent_spec is None:
            raise MutationFailed(
                f"parent {request.parent_id} has no spec.json; the built-in mutation role edits specs only"
            )
        parent = ArchSpec.model_validate(request.parent_spec)
        try:
            if request.mutation_type == "fair_idea":
                return self._apply_idea(parent, request, rng)[:2]
            if request.mutation_type == "pareto_scale_up":
                return apply_first(SCALE_UP_EDITS, parent, rng)[:2]
            if request.mutation_type == "pareto_tune":
                return apply_first(TUNE_EDITS, parent, rng)[:2]
            if request.mutation_type == "iterative":
                # step 1 applies the idea; step 2 refines another attribute of the result
                spec, first, family = self._apply_idea(parent, request, rng)
                spec, second, _ = apply_first(TUNE_EDITS + SCALE_UP_EDITS, spec, rng, avoid=family)
                return spec, f"{first} + {second}"
            # a baseline's name or an unknown type: one random edit of any kind
            return apply_first(SCALE_UP_EDITS + TUNE_EDITS, parent, rng)[:2]
        except EditRefused as exc:
            raise MutationFailed(f"no edit applies to parent {request.parent_id}: {exc}") from exc

    def _apply_idea(self, parent: ArchSpec, request: MutationRequest, rng: random.Random) -> tuple[ArchSpec, str, str]:
        edits = SUB_CATEGORY_EDITS.get(request.sub_category or "")
        if not edits:
            raise MutationFailed(
                f"sub-category {request.sub_category!r} cannot be realised by the built-in edits; "
                f"realisable: {', '.join(sorted(SUB_CATEGORY_EDITS))}"
            )
        spec, how, family = apply_first(edits, parent, rng)
        return spec, f"{how} [idea {request.idea}]" if request.idea else how, family
