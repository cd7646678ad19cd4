"""Mutation role: turns a parent architecture and an idea into a new candidate.

Reads: the parent's spec and source, its measured parameters and MACs, the mutation type
chosen by the planner, the idea to apply (title, description, sub-category, evidence, source),
the budgets, and on a retry the reviews that rejected the last attempt and its source.
Writes: a new ``model.py`` source, its spec when it has one, and the mode that made it (the
graph stores them).
Decides: how the request is realised: ``apply_idea`` for ``fair_idea``; a deeper or wider step
for ``pareto_scale_up``; a hyperparameter change that keeps depth and width for
``pareto_tune``; the idea plus a second refinement for ``iterative`` (with an LLM, in two steps:
see below); a downscale whenever the result is over budget or a gate said so.

**Built-in policy** (no LLM, ``context.llm is None``): the edits of the configured search
space (``search.space``, :mod:`fairnad_tools.spaces`); for the ``open`` space, typed
transformations of the architecture spec rendered to PyTorch source. After a veto (a gate's
``review`` rejection) the graph asks again with a new ``variant`` until the edit differs.

**With an LLM** (``context.llm`` an :class:`agents.llm.LLMClient`), ``mutation.mode`` picks:

* ``code`` (the paper's way): the LLM reads the parent's source, the task (the idea, or the
  Pareto operation), the budgets and the parent's measurements, and writes the whole new file.
* ``diff``: the same request answered as SEARCH/REPLACE edits, which we apply to the parent;
  edits that do not apply are re-asked once with the reason. A reply that holds a whole file
  instead of edits is taken as a ``code`` answer.
* ``spec``: the space offers a menu of up to ``mutation.spec_choices`` distinct typed edits for
  the request (different random draws, deduplicated by structure hash); the LLM picks one by
  structured output and the built-in engine applies and renders it. A parent with no spec
  falls back to ``diff``.
* ``auto``: **spec** when the parent has a spec and the request is realisable in the space
  (a ``fair_idea``/``iterative`` sub-category in the space's realisable set; always for the
  Pareto types and ``random_edit``) and the space offers at least one edit; otherwise **diff**.
  A retry of a code-only attempt stays **diff** (its code is repaired).

The ``seed`` type always runs the built-in policy (the seed comes from the space).

**Iterative mutation** (the method's third type) with an LLM runs in two steps
(``request.iter_step``, driven by the graph): step 1 asks for a short analysis of the history
(the best trained candidates and a few poor ones, with ideas, accuracy, parameters and MACs)
and of related ideas from the bank (``iterative_analysis.md.j2``; kept as ``analysis.md``),
then applies the idea in the resolved mode; that result is verified only. Step 2 makes one
small refinement of the verified step 1 (spec mode: a menu of hyperparameter, insert or swap
edits of it), which is trained and counted. Without an LLM the built-in stand-in applies the
idea and a second edit at once.

**Repair** (the last review in ``request.feedback`` decides): ``execution``: the verifier's
message, the failing line and the rejected source go back to the LLM for a fix; ``budget``:
the LLM downscales the rejected code, keeping the idea (a spec candidate is downscaled by the
space, without an LLM call); ``structure``: a real change of the parent; ``review``: a
different change. A code-only candidate (no spec) is repaired the same way.

A reply that cannot be used raises :class:`MutationRetry` (``truncated``, ``no_code``,
``edits_do_not_apply``, ``bad_choice``); the graph sends the candidate back with the message.
An answer equal to its parent is returned as it is: the verifier rejects it as
``not_modified`` and the repair asks for a real change. ``LLMError`` from the client
propagates (the graph records the failed step).
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from agents.answers import AnswerError, apply_edits, code_structure_hash, extract_code, parse_edits
from agents.base import MutationRole
from agents.prompts import estimate_tokens, prompt_tokens, render
from agents.records import MutationFailed, MutationRequest, MutationResult, MutationRetry, ReviewNote
from agents.registry import register_role
from fairnad_tools.spaces import Budget, EditRefused, SearchSpace, make_space
from fairnad_tools.verify.static import ALLOWED_MODULES

__all__ = [
    "MODES",
    "RETRY_CODES",
    "BuiltinMutation",
    "MutationAgent",
    "MutationFailed",
    "MutationRequest",
    "MutationResult",
    "MutationRetry",
    "SpecChoice",
    "SpecOption",
    "resolve_mode",
]

logger = logging.getLogger(__name__)

Mode = Literal["auto", "code", "diff", "spec"]
MODES: tuple[str, ...] = ("auto", "code", "diff", "spec")
DEFAULT_MODE = "auto"
DEFAULT_SPEC_CHOICES = 6
PARETO_TYPES = frozenset({"pareto_scale_up", "pareto_tune", "random_edit"})
IDEA_TYPES = frozenset({"fair_idea", "iterative"})
RETRY_CODES = frozenset({"truncated", "no_code", "edits_do_not_apply", "bad_choice", "no_analysis"})
ANALYSIS_TOKENS = 400
"""The longest analysis an iterative mutation asks for, in tokens (about 150 words)."""
"""The codes of :class:`MutationRetry` this role raises (a reply that left no checkable file)."""
_LINE = re.compile(r"\bline (\d+)\b")


class SpecChoice(BaseModel):
    """The LLM's pick from a spec-mode menu: ``choice`` is the option's number, from 1."""

    choice: int = Field(description="the number of the chosen option, from 1")
    reason: str = Field(default="", description="one short sentence")


def resolve_mode(
    mode: str, request: MutationRequest, realisable: set[str] | None, *, uses_llm: bool = True
) -> Literal["builtin", "code", "diff", "spec"]:
    """The mode that makes ``request``: ``builtin`` without an LLM or for a seed, else ``mode``
    with ``auto`` resolved and ``spec`` falling back to ``diff`` for a parent with no spec.

    ``auto``: ``spec`` when the parent has a spec and the request is realisable in the space
    (``realisable`` is the space's set, ``None`` meaning any: a fair_idea/iterative sub-category
    in it; always for pareto types and random_edit), else ``diff``; a retry whose rejected
    attempt was code-only (``previous_source`` without ``previous_spec``) stays ``diff``. Raises
    ``ValueError`` for a mode not in :data:`MODES`.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mutation.mode {mode!r}; valid: {', '.join(MODES)}")
    if not uses_llm or request.mutation_type == "seed":
        return "builtin"
    if mode == "spec":
        return "spec" if request.parent_spec is not None else "diff"
    if mode in ("code", "diff"):
        return mode  # type: ignore[return-value]
    if request.parent_spec is None:
        return "diff"
    if request.feedback and request.previous_spec is None and request.previous_source is not None:
        return "diff"  # the rejected attempt was code-only: repair its code
    if request.mutation_type in IDEA_TYPES:
        ok = request.sub_category is not None and (realisable is None or request.sub_category in realisable)
        return "spec" if ok else "diff"
    return "spec"


@dataclass
class SpecOption:
    """One entry of a spec-mode menu: the edited architecture (not yet fitted to the budget), its
    description and its structure hash."""

    arch: Any
    how: str
    structure_hash: str


@register_role("mutation")
class MutationAgent(MutationRole):
    """The mutation role: the built-in policy without an LLM, the LLM's code, edits or choice with one."""

    summary = "applies an idea or a Pareto-aware transformation to a parent (spec edit, or LLM-written code)"
    reads = "parent spec/source and measurements, mutation type, idea, budgets, rejections of the last try"
    writes = "model.py of the new candidate, spec.json when it has one, the mode in mutation.json"
    decides = "how the idea or Pareto operation is realised; the repair of a rejected attempt; downscale"
    llm_mode = True

    # -- settings ---------------------------------------------------------------------------------

    @property
    def space(self) -> SearchSpace:
        """The search space whose edits this role applies (``search.space``)."""
        if self.context.space is None:
            self.context.space = make_space(self.context.settings.search.space)
        return self.context.space

    @property
    def mode(self) -> str:
        """``mutation.mode`` from the settings (``auto`` when the section is absent)."""
        section = getattr(self.context.settings, "mutation", None)
        return str(getattr(section, "mode", DEFAULT_MODE))

    @property
    def spec_choices(self) -> int:
        """``mutation.spec_choices``: the size of a spec-mode menu (at least 1)."""
        section = getattr(self.context.settings, "mutation", None)
        return max(1, int(getattr(section, "spec_choices", DEFAULT_SPEC_CHOICES)))

    def realisable_sub_categories(self) -> set[str] | None:
        """The space's set for the built-in policy and spec mode; ``None`` (any) when an LLM writes code."""
        if self.uses_llm and self.mode != "spec":
            return None
        return self.space.realisable_sub_categories()

    # -- the step ---------------------------------------------------------------------------------

    def mutate(self, request: MutationRequest) -> MutationResult:
        """One candidate for ``request``.

        Raises :class:`MutationFailed` when no edit applies (the candidate is rejected),
        :class:`MutationRetry` when the LLM's reply cannot be used (the graph asks again), and
        lets the client's ``LLMError`` through.
        """
        llm = self.context.llm
        if llm is not None and not callable(getattr(llm, "chat", None)):
            raise TypeError(
                f"the mutation role needs an LLM client with chat() and structured() (agents.llm.LLMClient), "
                f"got {type(llm).__name__}"
            )
        if request.mutation_type == "iterative" and request.iter_step is not None and llm is not None:
            return self._iterative(request)
        return self._made(request)

    def _made(self, request: MutationRequest) -> MutationResult:
        realisable = self.space.realisable_sub_categories()
        mode = resolve_mode(self.mode, request, realisable, uses_llm=self.context.llm is not None)
        if mode == "builtin":
            return self._builtin(request)
        if mode == "spec":
            result = self._spec(request)
            if result is not None:
                return result
            mode = "diff"  # auto: the space offers no edit for this request; the LLM edits the code
        return self._code(request, mode)

    # -- iterative mutation (with an LLM) ---------------------------------------------------------

    def _iterative(self, request: MutationRequest) -> MutationResult:
        """The method's iterative mutation in two steps (``request.iter_step``).

        Step 1: an analysis of the history and related ideas (one chat call, kept by the graph as
        ``analysis.md``; a retry reuses it), then the idea applied to the parent in the resolved
        mode; the result is marked ``step=1`` (the graph verifies it only). Step 2: one small
        refinement of the verified step 1 (``request.step1_source`` / ``step1_spec``), trained
        and counted. Raises as :meth:`mutate`.
        """
        if request.iter_step == 2:
            if request.step1_source is None:
                raise MutationFailed(f"iterative step 2 of {request.candidate_id}: step 1's model.py is missing")
            derived = request.model_copy(
                update={"parent_spec": request.step1_spec, "parent_source": request.step1_source}
            )
            result = self._made(derived)
            return result.model_copy(update={"transformation": f"refine: {result.transformation}", "step": 2})
        analysis, written = request.analysis, None
        if not analysis:
            analysis = written = self._analyse(request)
        try:
            result = self._made(request.model_copy(update={"analysis": analysis}))
        except MutationRetry as exc:  # the graph keeps the analysis, so the retry does not ask again
            exc.analysis = written
            raise
        return result.model_copy(update={"step": 1, "analysis": written})

    def _analyse(self, request: MutationRequest) -> str:
        """One chat call: a short analysis of similar and opposite ideas in the history (plain text)."""
        variables = self._variables(request)
        variables.update(
            history=[h.model_dump() for h in request.history],
            related_ideas=[r.model_dump() for r in request.related_ideas],
        )
        messages = self._messages("iterative_analysis.md.j2", variables, "analysis")
        reply = self.context.llm.chat(
            messages,
            candidate=request.candidate_id,
            attempt=request.attempt,
            purpose="mutation.analysis",
            max_tokens=ANALYSIS_TOKENS,
        )
        text = reply.text.strip()
        if not text:
            raise MutationRetry("no_analysis", "the analysis was empty; write the short analysis asked for")
        return text

    # -- built-in policy --------------------------------------------------------------------------

    def _builtin(self, request: MutationRequest) -> MutationResult:
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
        return self._fit(*self._draw(request, rng, budget), budget)

    def _draw(self, request: MutationRequest, rng: random.Random, budget: Budget) -> tuple[Any, str]:
        """The built-in edit for ``request`` before it is fitted to the budget."""
        space = self.space
        if request.parent_spec is None:
            raise MutationFailed(
                f"parent {request.parent_id} has no spec.json; the built-in mutation role edits specs only"
            )
        parent = space.load(request.parent_spec)
        kind = request.mutation_type
        if kind == "iterative" and request.iter_step == 2:  # refine the verified step 1 (the parent here)
            kinds = [k for k in ("hyperparameter", "insert", "swap") if k in space.edit_kinds] or None
            arch, how = space.random_edit(parent, rng, kinds)
        elif kind in ("fair_idea", "iterative"):
            if not request.sub_category:
                raise MutationFailed(f"{kind} needs an idea with a sub-category")
            arch, how = space.apply_idea(parent, request.sub_category, rng)
            if request.idea:
                how = f"{how} [idea {request.idea}]"
            if kind == "iterative" and request.iter_step is None:  # built-in: a second refinement at once
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
        return arch, how

    # -- spec mode --------------------------------------------------------------------------------

    def spec_menu(self, request: MutationRequest) -> list[SpecOption]:
        """Up to ``spec_choices`` distinct typed edits of the parent for ``request``.

        Draws the built-in edit with different random streams; drops duplicates, the parent
        itself and, on a retry, the rejected spec. The options are not yet fitted to the budget
        (fitting measures a model, which is slow): the chosen one is. ``[]`` when the space
        refuses every draw.
        """
        space = self.space
        if request.parent_spec is None:
            raise MutationFailed(f"parent {request.parent_id} has no spec.json; a spec menu needs one")
        budget = (request.max_params, request.max_flops)
        exclude = {space.structure_hash(space.load(request.parent_spec))}
        if request.previous_spec:
            exclude.add(space.structure_hash(space.load(request.previous_spec)))
        options: list[SpecOption] = []
        refusals: list[str] = []
        for draw in range(self.spec_choices * 4):
            if len(options) >= self.spec_choices:
                break
            rng = random.Random(f"{request.seed}:{request.candidate_id}:{request.attempt}:{request.variant}:{draw}")
            try:
                arch, how = self._draw(request, rng, budget)
            except (EditRefused, MutationFailed) as exc:
                refusals.append(str(exc))
                continue
            digest = space.structure_hash(arch)
            if digest not in exclude:
                exclude.add(digest)
                options.append(SpecOption(arch, how, digest))
        if not options and refusals:
            logger.info("spec menu for %s is empty: %s", request.candidate_id, refusals[-1])
        return options

    def _spec(self, request: MutationRequest) -> MutationResult | None:
        space = self.space
        last = request.feedback[-1] if request.feedback else None
        budget = (request.max_params, request.max_flops)
        if last is not None and last.kind == "budget" and request.previous_spec:
            try:  # the space downscales a spec exactly: no LLM call needed
                arch, step = space.downscale(space.load(request.previous_spec), budget)
            except EditRefused as exc:
                raise MutationFailed(f"downscale of {request.candidate_id}: {exc}") from exc
            how = f"{last.transformation or ''} + {step}".lstrip(" +")
            return self._spec_result(arch, how)
        options = self.spec_menu(request)
        if not options:
            if self.mode == "auto":
                return None
            raise MutationFailed(
                f"{request.mutation_type} of parent {request.parent_id}: the space offers no edit for this request"
            )
        if len(options) == 1:
            return self._spec_result(*self._fit_option(options[0], "[spec: the only option]", budget))
        variables = self._variables(request)
        variables.update(
            parent_summary=_summary(request.parent_source or space.render(space.load(request.parent_spec or {}))),
            options=[o.how for o in options],
        )
        schema = create_model(
            "SpecChoice",
            __base__=SpecChoice,
            choice=(
                int,
                Field(ge=1, le=len(options), description=f"the number of the chosen option, 1 to {len(options)}"),
            ),
        )
        messages = self._messages("mutation_spec.md.j2", variables, "spec")
        picked = self.context.llm.structured(
            messages, schema, candidate=request.candidate_id, attempt=request.attempt, purpose="mutation.spec"
        )
        number = getattr(picked, "choice", None)
        if not isinstance(number, int) or not 1 <= number <= len(options):
            raise MutationRetry(
                "bad_choice",
                f"the choice {number!r} is not an option number; choose a number from 1 to {len(options)}",
            )
        reason = str(getattr(picked, "reason", "") or "").strip()
        note = f"[spec choice {number}/{len(options)}{': ' + reason[:120] if reason else ''}]"
        return self._spec_result(*self._fit_option(options[number - 1], note, budget))

    def _fit_option(self, option: SpecOption, note: str, budget: Budget) -> tuple[Any, str]:
        try:
            arch, how = self._fit(option.arch, option.how, budget)
        except EditRefused as exc:
            raise MutationFailed(f"{option.how}: {exc}") from exc
        return arch, f"{how} {note}"

    def _spec_result(self, arch: Any, how: str) -> MutationResult:
        space = self.space
        return MutationResult(
            spec=space.dump(arch),
            source=space.render(arch),
            transformation=how,
            structure_hash=space.structure_hash(arch),
            mode="spec",
        )

    # -- code and diff modes ----------------------------------------------------------------------

    def _code(self, request: MutationRequest, mode: Literal["code", "diff"]) -> MutationResult:
        parent_source = request.parent_source
        if parent_source is None and request.parent_spec is not None:
            parent_source = self.space.render(self.space.load(request.parent_spec))
        if parent_source is None:
            raise MutationFailed(f"parent {request.parent_id} has neither model.py nor spec.json to edit")
        template, base, what = self._plan(request, parent_source, mode)
        variables = self._variables(request)
        variables.update(parent_source=parent_source, answer=mode)
        last = request.feedback[-1] if request.feedback else None
        if last is not None:
            variables.update(
                code=last.code,
                message=last.message,
                role=last.role,
                rejected=last.transformation,
                previous_source=base,
                failing_line=_failing_line(last.message, base),
            )
        messages = self._messages(template, variables, mode)
        purpose = f"mutation.{mode}"
        reply = self.context.llm.chat(
            messages, candidate=request.candidate_id, attempt=request.attempt, purpose=purpose
        )
        if mode == "code":
            source = self._take_code(reply)
        else:
            source, mode = self._take_edits(request, messages, reply, base, purpose)
        return MutationResult(
            spec=None,
            source=source,
            transformation=f"llm {mode}: {what}",
            structure_hash=code_structure_hash(source),
            mode=mode,
        )

    def _plan(self, request: MutationRequest, parent_source: str, mode: str) -> tuple[str, str, str]:
        """The template, the source the answer edits, and a readable description of the task."""
        task = _task_text(request)
        last = request.feedback[-1] if request.feedback else None
        if last is None:
            return f"mutation_{mode}.md.j2", parent_source, task
        previous = request.previous_source
        if last.code in RETRY_CODES:  # the last reply left no file: ask again, with the reason
            return f"mutation_{mode}.md.j2", parent_source, task
        if last.kind == "execution" and previous is not None:
            return "repair_execution.md.j2", previous, f"fix {last.code} of {task}"
        if last.kind == "budget" and previous is not None:
            return "repair_budget.md.j2", previous, f"downscale {task}"
        if last.kind == "structure":
            return "repair_structure.md.j2", parent_source, f"real change: {task}"
        if last.kind == "review":
            return "repair_review.md.j2", parent_source, f"different change: {task}"
        # an attempt that left no file (a cut or unusable reply): ask again, with the note
        return f"mutation_{mode}.md.j2", parent_source, task

    def _take_code(self, reply: Any) -> str:
        answer = extract_code(reply.text, reply.finish_reason)
        if answer.truncated or getattr(reply, "truncated", False):
            raise MutationRetry("truncated", answer.problem or "the answer was cut short; give the complete file")
        if not answer.code:
            raise MutationRetry("no_code", answer.problem or "the reply holds no Python code")
        return answer.code

    def _take_edits(
        self, request: MutationRequest, messages: list[dict[str, str]], reply: Any, base: str, purpose: str
    ) -> tuple[str, Literal["code", "diff"]]:
        for ask in range(2):
            try:
                edits = parse_edits(reply.text)
                if not edits:
                    whole = extract_code(reply.text, reply.finish_reason)
                    if "def build_model" in whole.code and not whole.truncated:
                        return whole.code, "code"  # a whole file instead of edits: take it
                    if whole.truncated and whole.code:
                        raise MutationRetry("truncated", whole.problem or "the answer was cut short")
                    raise AnswerError("the reply holds no SEARCH/REPLACE edit")
                # complete blocks of a reply cut later on still apply; the verifier judges the result
                return apply_edits(base, edits), "diff"
            except AnswerError as exc:
                problem = str(exc)
            if ask == 1:
                break
            messages = [
                *messages,
                {"role": "assistant", "content": reply.text},
                {"role": "user", "content": render("reask_edits.md.j2", problem=problem)},
            ]
            reply = self.context.llm.chat(
                messages, candidate=request.candidate_id, attempt=request.attempt, purpose=purpose
            )
        code = "truncated" if "cut short" in problem or "length limit" in problem else "edits_do_not_apply"
        raise MutationRetry(code, f"the edits could not be applied, after one re-ask: {problem}")

    # -- prompts ----------------------------------------------------------------------------------

    def _variables(self, request: MutationRequest) -> dict[str, Any]:
        verify = getattr(self.context.settings, "verify", None)
        return {
            "mutation_type": request.mutation_type,
            "idea_title": request.idea_title or request.idea,
            "idea_description": request.idea_description,
            "sub_category": request.sub_category,
            "idea_evidence": request.idea_evidence,
            "idea_source": request.idea_source,
            "parent_params": request.parent_params,
            "parent_flops": request.parent_flops,
            "max_params": request.max_params,
            "max_flops": request.max_flops,
            "input_shape": request.input_shape,
            "allowed_modules": sorted(ALLOWED_MODULES - {"__future__"}),
            "min_layers": int(getattr(verify, "min_layers", 3)),
            "notes": [_note_text(n) for n in request.feedback[:-1]]
            + [f"duplicate: {text}; make a different change" for text in request.duplicates],
            "last_note": request.feedback[-1] if request.feedback else None,
            "iter_step": request.iter_step,
            "analysis": request.analysis,
            "lessons": request.lessons.strip() if request.lessons and request.lessons.strip() else None,
        }

    def _messages(self, template: str, variables: dict[str, Any], mode: str) -> list[dict[str, str]]:
        """System and user messages, shortened (history first, never a source) to fit the context."""
        limit = prompt_tokens(self.context.llm)
        variables = dict(variables)
        if template.startswith("mutation_") and variables.get("last_note") is not None:
            # a retry with no file to repair: the last note goes with the history, newest last
            variables["notes"] = [*variables["notes"], _note_text(variables["last_note"])]
        variables.pop("last_note", None)
        for step in range(8):
            system = render("system.md.j2", **variables)
            user = render(template, **variables)
            if estimate_tokens(system) + estimate_tokens(user) <= limit:
                break
            if not _shorten(variables, step):
                logger.warning("the %s prompt is over its %d-token estimate even shortened", template, limit)
                break
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]


BuiltinMutation = MutationAgent
"""The mutation role's former name (before it had LLM modes); the same class."""


def _shorten(variables: dict[str, Any], step: int) -> bool:
    """One step of shortening a prompt's variables; ``False`` when nothing is left to shorten."""
    notes = variables.get("notes") or []
    if notes:
        variables["notes"] = notes[1:]  # the oldest review goes first
        return True
    for key in ("related_ideas", "history"):  # iterative: the least related idea, then the poorest entry
        entries = variables.get(key) or []
        if entries:
            variables[key] = entries[:-1]
            return True
    lessons = variables.get("lessons")
    if isinstance(lessons, str) and lessons:  # then the lessons, last lines first, half at a time
        lines = lessons.splitlines()
        variables["lessons"] = "\n".join(lines[: len(lines) // 2]).strip() or None
        return True
    for key, size in (
        ("idea_evidence", 300),
        ("idea_description", 500),
        ("analysis", 600),
        ("message", 800),
        ("idea_evidence", 0),
    ):
        value = variables.get(key)
        if isinstance(value, str) and len(value) > size:
            variables[key] = (value[:size].rstrip() + " ...") if size else None
            return True
    return False


def _note_text(note: ReviewNote) -> str:
    rejected = f" ({note.transformation})" if note.transformation else ""
    message = note.message if len(note.message) <= 400 else note.message[:400] + " ..."
    return f"{note.kind} `{note.code}` from {note.role}{rejected}: {message}"


def _failing_line(message: str, source: str | None) -> str | None:
    """The source line the verifier's message names (the last ``line N`` in it), if any."""
    if not source:
        return None
    lines = source.splitlines()
    for match in reversed(_LINE.findall(message)):
        number = int(match)
        if 1 <= number <= len(lines) and lines[number - 1].strip():
            return f"line {number}: {lines[number - 1].strip()}"
    return None


def _summary(source: str) -> str:
    """The first paragraph of a rendered source's module docstring (the spec in one line)."""
    match = re.match(r'\s*"""(.*?)(?:\n\n|""")', source, re.DOTALL)
    text = match.group(1) if match else source.splitlines()[0] if source else ""
    return " ".join(text.split())[:600]


def _task_text(request: MutationRequest) -> str:
    kind = request.mutation_type
    if kind in IDEA_TYPES:
        title = request.idea_title or request.idea or "an idea"
        return f"{kind}({title!s} [{request.sub_category}])"
    return f"{kind}()"
