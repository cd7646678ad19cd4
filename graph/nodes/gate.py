"""Gate nodes: one per role in ``[roles] gates`` (the verifier by default), in order.

Each gate reviews the batch's proposed candidates. A rejection sends the candidate back to
the mutation role with the review, within the retry limit of its kind (``[roles.retries]``:
``execution``, ``budget``, ``structure``, ``review``); with no retry left it is recorded as
``rejected``. A ``review`` rejection is a veto: the vetoed architecture is remembered so the
mutation role must come back with a different edit, and the feedback statistics keep the
veto apart from failures. An unexpected exception in a gate rejects that candidate (the trace
names the gate and the error) and the run goes on.

A gate with an LLM (the verifier with ``verify.llm_review``) is given the idea's title and
description from the run's bank (``None`` when the bank does not hold the idea); after each
review its LLM exchanges are kept as ``candidates/<id>/llm/NN-<gate>.json`` and traced, and
the role step's ``tokens`` field holds their tokens.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from langgraph.runtime import Runtime

from agents.records import Proposal, Review
from graph.context import RunContext, Timer, record_llm_calls
from graph.state import CandidateRecord, RunState


def make_gate(name: str, *, last: bool) -> Callable[[RunState, Runtime[RunContext]], dict[str, Any]]:
    """Build the node for gate role ``name``; the last gate marks survivors ``approved``."""

    def gate(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        ctx = runtime.context
        role = ctx.gates[name]
        report_file = role.report_file or f"{name}.json"
        shape = ctx.dataset.input_shape
        updates: dict[str, CandidateRecord] = {}
        for cid in state.get("batch", []):
            record: dict[str, Any] = dict(state["candidates"][cid])
            if record["status"] != "proposed":
                continue
            parent = record["parent"]
            idea = ctx.idea(record["idea"])
            proposal = Proposal(
                candidate_id=cid,
                parent_id=parent,
                mutation_type=record["mutation_type"],
                transformation=record["transformation"] or "",
                idea=record["idea"],
                idea_title=idea.title if idea else None,
                idea_description=idea.description if idea else None,
                sub_category=record["sub_category"],
                model_path=ctx.store.candidate_dir(cid) / "model.py",
                parent_model_path=ctx.store.candidate_dir(parent) / "model.py" if parent else None,
                spec=ctx.store.read_json(cid, "spec.json"),
                parent_spec=ctx.store.read_json(parent, "spec.json") if parent else None,
                input_shape=shape,
                num_classes=ctx.dataset.num_classes,
                attempt=record["attempt"],
            )
            crashed = None
            with Timer() as timer:
                try:
                    review = role.review(proposal)
                    if not isinstance(review, Review):
                        raise TypeError(f"review() returned {type(review).__name__}, not a Review")
                except Exception as exc:  # noqa: BLE001 - a gate's bug rejects one candidate, not the run
                    crashed = traceback.format_exc(limit=8)
                    review = Review(
                        approved=False,
                        code="role_error",
                        kind="execution",
                        message=f"unexpected error in gate {name!r}: {type(exc).__name__}: {exc}",
                    )
                finally:
                    tokens = record_llm_calls(ctx)
            ctx.store.write_json(cid, report_file, review.report or review.model_dump(mode="json"))
            measured = {k: v for k, v in review.measurements.items() if k in ("params", "flops")}
            record.update({k: v for k, v in measured.items() if v is not None})
            given = f"{proposal.transformation or proposal.mutation_type} (attempt {record['attempt']})"
            if crashed is not None:
                record.update(status="rejected", reason=f"{name}: {review.code}: {review.message}", error_role=name)
                decided = f"rejected: {review.message}"
                ctx.tracer.emit("role_error", role=name, candidate=cid, message=review.message, traceback=crashed)
            elif review.approved:
                decided = "approved"
                if last and record.get("iter_step") == 1:
                    decided = _refine_next(ctx, cid, record, report_file)
                elif last:
                    record["status"] = "approved"
            else:
                decided = send_back(ctx, name, record, code=review.code, kind=review.kind, message=review.message)
            ctx.tracer.emit(
                "role_step",
                role=name,
                candidate=cid,
                given=given,
                decided=decided,
                code=review.code,
                message=review.message,
                params=review.measurements.get("params"),
                flops=review.measurements.get("flops"),
                report=str(ctx.store.candidate_dir(cid) / report_file),
                seconds=timer.seconds,
                tokens=tokens or None,
            )
            updates[cid] = record
        return {"candidates": updates}

    gate.__name__ = f"gate_{name}"
    return gate


def _refine_next(ctx: RunContext, cid: str, record: dict[str, Any], report_file: str) -> str:
    """An approved first step of an iterative mutation: keep it as ``step1.py`` (with its spec and
    report) and send the candidate back to ``mutate`` for step 2, as a new attempt (its LLM calls
    get their own keys) that uses no retry."""
    folder = ctx.store.candidate_dir(cid)
    for name, kept in (
        ("model.py", "step1.py"),
        ("spec.json", "step1-spec.json"),
        (report_file, f"step1-{report_file}"),
    ):
        source = folder / name
        if source.is_file():
            ctx.store.write_text(cid, kept, source.read_text(encoding="utf-8"))
        else:
            (folder / kept).unlink(missing_ok=True)
    record["status"] = "refine"
    record["attempt"] += 1
    record["step2_from"] = len(record["feedback"])
    record["step1_hash"] = record[
        "structure_hash"
    ]  # step 2 may not reproduce it  # step 2's repairs read only the notes after this
    return "approved step 1 of 2 (verified only; kept as step1.py): refine it next"


def send_back(ctx: RunContext, name: str, record: dict[str, Any], *, code: str, kind: str, message: str) -> str:
    """Record a rejection by role ``name``: back to ``mutate`` while retries of ``kind`` remain, else
    ``rejected``. Returns the readable decision for the trace. Also used by ``mutate`` when the
    mutation role's own attempt produced nothing checkable (an LLM answer cut short)."""
    used = record["retries"].get(kind, 0)
    limit = ctx.settings.roles.retries.limit(kind)
    note = {
        "role": name,
        "code": code,
        "kind": kind,
        "message": message,
        "transformation": record["transformation"],
    }
    record["feedback"] = [*record["feedback"], note]
    if kind == "review" and record["structure_hash"]:
        record["vetoed"] = [*record.get("vetoed", []), record["structure_hash"]]
    if used < limit:
        record["retries"] = {**record["retries"], kind: used + 1}
        record["attempt"] += 1
        record["status"] = "retry"
        return f"sent back ({kind} retry {used + 1}/{limit}): {code}"
    record["status"] = "rejected"
    record["reason"] = f"{name}: {code}: {message}"
    return f"rejected after {used} {kind} retries: {code}"


def after_gates(state: RunState) -> str:
    """Back to ``mutate`` while a candidate of the batch waits for a retry or its second step, else ``train``."""
    waiting = any(state["candidates"][cid]["status"] in ("retry", "refine") for cid in state.get("batch", []))
    return "mutate" if waiting else "train"
