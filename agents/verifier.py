"""Verifier role: the code-verifier gate before any training.

Reads: the proposal's ``model.py`` (and the parent's), the ``[verify]`` budgets and the
dataset's input shape.
Writes: a report following the verifier contract (``verify.json`` in the candidate folder).
Decides: whether the candidate may be trained; when not, which repair the mutation role
should attempt (debug an execution error, downscale over a budget, restructure).

The code runs only in a separate, limited process (:mod:`fairnad_tools.verify`).

LLM review (``verify.llm_review``, off by default)
    With the setting on and an LLM configured (the role then gets a chat client), a candidate
    that passes the programmatic checks and was asked to realise an idea (mutation type
    ``fair_idea`` or ``iterative``, with an idea or a sub-category) is shown to the LLM once:
    the idea (title, description, sub-category), the mutation agent's transformation text, a
    unified diff of the parent's ``model.py`` to the candidate's (cut with a note when the
    prompt would not fit ``llm.context_tokens - llm.max_answer_tokens``) and the measured
    parameters, MACs and weighted layers with the budgets. It answers an :class:`IdeaVerdict`.
    ``realises = false`` rejects the candidate with code ``idea_not_realised``, kind
    ``review`` (a veto: the mutation role is asked for a different edit, with the reason).

``verify.json``
    The programmatic report (:class:`fairnad_tools.verify.VerifyReport` as JSON: ``ok``,
    ``code``, ``message``, ``params``, ``flops``, ...) plus the key ``llm_review``:

    * ``null``: the LLM was not asked (setting off, no LLM, the checks failed, no idea);
    * ``{"realises": bool, "reason": str, "model": str}``: the LLM's verdict;
    * ``{"error": str, "kind": str, "model": str}``: the call failed (``kind`` as
      :class:`agents.llm.LLMError`, ``"budget"`` for a reached LLM budget).

    The top-level ``ok``, ``code`` and ``message`` are the gate's final verdict. When the LLM
    rejects, they become ``false``, ``"idea_not_realised"`` and ``"LLM review: <reason>"``,
    and the programmatic verdict is kept under ``programmatic``
    (``{"ok": true, "code": "ok", "message": ...}``); the measurements stay where they are.

LLM failures never reject a valid model: an :class:`agents.llm.LLMError` (the service failed
after its retries, an unusable answer, a replay without this call) or a reached LLM budget
(:class:`agents.llm.LLMBudgetExhausted`; the mutation node is the one that stops the run)
approves on the programmatic verdict, with the failure in ``llm_review``.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agents.base import GateRole, Proposal, Review
from agents.llm import LLMError
from agents.prompts import estimate_tokens, prompt_tokens, render
from agents.registry import register_role
from fairnad_tools.train import resolve_train_settings
from fairnad_tools.verify import VerifyReport, verify_file

IDEA_TYPES = frozenset({"fair_idea", "iterative"})
"""Mutation types asked to realise an idea from the bank: the ones the LLM review judges."""
MAX_DESCRIPTION_CHARS = 1500
"""An idea's description is cut to this many characters in the review prompt."""


class IdeaVerdict(BaseModel):
    """The LLM reviewer's answer: whether the change realises the requested idea, and why."""

    realises: bool = Field(description="true when the change realises the requested idea")
    reason: str = Field(description="one or two sentences; when false, what is missing")


@register_role("verifier")
class VerifierRole(GateRole):
    summary = (
        "builds each candidate in a sandbox; checks forward/backward, budgets and structure "
        "(optionally asks the LLM whether the change realises the idea: verify.llm_review)"
    )
    reads = "model.py, the parent's model.py, [verify] budgets, the input shape; the idea when reviewing with the LLM"
    writes = "verify.json (ok, code, message, params, flops, seconds, llm_review)"
    decides = "train or send back for debugging, downscaling, a real structural change or (LLM) the idea"
    report_file = "verify.json"
    llm_mode = True

    @classmethod
    def llm_off(cls, settings: Any) -> str | None:
        """``"LLM review off: verify.llm_review"`` unless ``settings.verify.llm_review`` is true."""
        verify = getattr(settings, "verify", None)
        return None if getattr(verify, "llm_review", False) else "LLM review off: verify.llm_review"

    def review(self, proposal: Proposal) -> Review:
        """Verify ``proposal.model_path`` in the sandbox; then, when asked for, the LLM review.

        Returns the :class:`Review` whose ``report`` is ``verify.json`` (module docstring).
        Never raises for an LLM failure (it approves on the programmatic verdict).
        """
        settings = self.context.settings.verify
        report = verify_file(
            proposal.model_path,
            parent=proposal.parent_model_path,
            input_shape=proposal.input_shape,
            num_classes=proposal.num_classes,
            max_params=settings.max_params,
            max_flops=settings.flops_budget(proposal.input_shape),
            min_layers=settings.min_layers,
            timeout_s=settings.timeout_s,
            memory_mb=settings.memory_mb,
            train_batch=_largest_training_batch(self.context.settings),
        )
        measurements = {
            "params": report.params,
            "flops": report.flops,
            "weighted_layers": report.weighted_layers,
            "signature": report.signature,
        }
        data = report.model_dump(mode="json")
        data["llm_review"] = None
        if not self._asks_llm(proposal, report):
            return Review(
                approved=report.ok,
                code=report.code,
                message=report.message,
                kind=report.kind,
                measurements=measurements,
                report=data,
            )
        verdict = self._llm_review(proposal, report)
        data["llm_review"] = verdict
        if verdict.get("realises") is False:
            message = f"LLM review: {verdict['reason']}"
            data["programmatic"] = {"ok": report.ok, "code": report.code, "message": report.message}
            data.update(ok=False, code="idea_not_realised", message=message)
            return Review(
                approved=False,
                code="idea_not_realised",
                kind="review",
                message=message,
                measurements=measurements,
                report=data,
            )
        return Review(approved=True, code=report.code, message=report.message, measurements=measurements, report=data)

    # -- the LLM review ---------------------------------------------------------------------------

    def _asks_llm(self, proposal: Proposal, report: VerifyReport) -> bool:
        return (
            bool(getattr(self.context.settings.verify, "llm_review", False))
            and self.context.llm is not None
            and report.ok
            and proposal.mutation_type in IDEA_TYPES
            and bool(proposal.idea or proposal.sub_category)
        )

    def _llm_review(self, proposal: Proposal, report: VerifyReport) -> dict[str, Any]:
        """The ``llm_review`` entry of ``verify.json``: the verdict, or the failure (never raises LLMError)."""
        llm = self.context.llm
        model = getattr(llm, "model", None)
        try:
            answer = llm.structured(
                self.review_messages(proposal, report),
                IdeaVerdict,
                candidate=proposal.candidate_id,
                attempt=proposal.attempt,
                purpose="verifier.review",
            )
            verdict = IdeaVerdict.model_validate(answer, from_attributes=True)
        except LLMError as exc:  # LLMBudgetExhausted included: the review is optional
            return {"error": str(exc), "kind": exc.kind, "model": model}
        reason = verdict.reason.strip() or "(no reason given)"
        return {"realises": verdict.realises, "reason": reason, "model": model}

    def review_messages(self, proposal: Proposal, report: VerifyReport) -> list[dict[str, str]]:
        """The system and user messages of the LLM review of ``proposal`` (measured as ``report``).

        The diff is cut, with a note saying how many lines were left out, so that the prompt's
        estimated tokens (:func:`agents.prompts.estimate_tokens`) fit ``context_tokens -
        max_answer_tokens`` of the client's settings (8192 - 2048 by default).
        """
        settings = self.context.settings.verify
        description = proposal.idea_description
        if description and len(description) > MAX_DESCRIPTION_CHARS:
            description = description[:MAX_DESCRIPTION_CHARS].rstrip() + " ..."
        variables: dict[str, Any] = {
            "mutation_type": proposal.mutation_type,
            "idea_title": proposal.idea_title or proposal.idea,
            "idea_description": description,
            "sub_category": proposal.sub_category,
            "transformation": proposal.transformation,
            "params": report.params,
            "flops": report.flops,
            "weighted_layers": report.weighted_layers,
            "max_params": settings.max_params,
            "max_flops": settings.flops_budget(proposal.input_shape),
            "min_layers": settings.min_layers,
        }
        system = render("verifier_system.md.j2")
        diff_lines = model_diff(proposal.parent_model_path, proposal.model_path)
        limit = prompt_tokens(self.context.llm) - estimate_tokens(system)
        base = estimate_tokens(render("verifier_review.md.j2", **variables, diff=""))
        room = max(0, int((limit - base) * 3.5) - 1)  # characters the diff may take
        diff = fit_diff(diff_lines, room)
        user = render("verifier_review.md.j2", **variables, diff=diff)
        while estimate_tokens(user) > limit and room > 0:  # the estimate's rounding: cut a little more
            room = max(0, room - 200)
            diff = fit_diff(diff_lines, room)
            user = render("verifier_review.md.j2", **variables, diff=diff)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def model_diff(parent: Path | None, candidate: Path) -> list[str]:
    """Unified diff lines (no line ends) of ``parent`` (``None``: an empty file) to ``candidate``.

    Unreadable files read as empty; raises nothing.
    """

    def read(path: Path | None) -> list[str]:
        if path is None:
            return []
        try:
            return path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []

    lines = list(
        difflib.unified_diff(
            read(parent), read(candidate), fromfile="parent/model.py", tofile="candidate/model.py", lineterm=""
        )
    )
    return lines or ["(no difference: the candidate's model.py is the parent's)"]


def fit_diff(lines: list[str], chars: int) -> str:
    """``lines`` joined, at most about ``chars`` characters: whole lines from the start, then one
    note naming how many lines were left out."""
    text = "\n".join(lines)
    if len(text) <= chars:
        return text
    kept: list[str] = []
    used = 0
    for line in lines:
        note = f"... ({len(lines) - len(kept)} more diff lines left out: the diff is longer than the prompt's budget)"
        if used + len(line) + 1 + len(note) > chars:
            break
        kept.append(line)
        used += len(line) + 1
    left = len(lines) - len(kept)
    return "\n".join([*kept, f"... ({left} more diff lines left out: the diff is longer than the prompt's budget)"])


def _largest_training_batch(settings: Any) -> int:
    """The largest batch training runs: the batch size plus one (a last batch of one image joins
    the batch before it, :func:`fairnad_tools.train.worker.batch_bounds`)."""
    batch = resolve_train_settings(settings.train, settings.data.dataset).batch_size
    return batch + 1
