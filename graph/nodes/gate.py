"""Gate nodes: one per role in ``[roles] gates`` (the verifier by default), in order.

Each gate reviews the batch's proposed candidates. A rejection sends the candidate back
to the mutation role with the review (execution errors: ``verify.debug_retries``; budget:
``verify.downscale_retries``; structure: ``verify.structure_retries``; any other gate:
``verify.review_retries``); with no retry left it is recorded as ``rejected``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.runtime import Runtime

from agents.base import Proposal
from fairnad_tools.settings import VerifySettings
from graph.context import RunContext, Timer
from graph.state import CandidateRecord, RunState


def retry_limit(kind: str, verify: VerifySettings) -> int:
    return {
        "execution": verify.debug_retries,
        "budget": verify.downscale_retries,
        "structure": verify.structure_retries,
    }.get(kind, verify.review_retries)


def make_gate(name: str, *, last: bool) -> Callable[[RunState, Runtime[RunContext]], dict[str, Any]]:
    """Build the node for gate role ``name``; the last gate marks survivors ``approved``."""

    def gate(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        ctx = runtime.context
        role = ctx.gates[name]
        report_file = role.report_file or f"{name}.json"
        shape = ctx.dataset.input_shape
        updates: dict[str, CandidateRecord] = {}
        for cid in state.get("batch", []):
            record = dict(state["candidates"][cid])
            if record["status"] != "proposed":
                continue
            parent = record["parent"]
            proposal = Proposal(
                candidate_id=cid,
                parent_id=parent,
                mutation_type=record["mutation_type"],
                transformation=record["transformation"] or "",
                idea=record["idea"],
                sub_category=record["sub_category"],
                model_path=ctx.store.candidate_dir(cid) / "model.py",
                parent_model_path=ctx.store.candidate_dir(parent) / "model.py" if parent else None,
                spec=ctx.store.read_json(cid, "spec.json"),
                input_shape=shape,
                num_classes=ctx.dataset.num_classes,
                attempt=record["attempt"],
            )
            with Timer() as timer:
                review = role.review(proposal)
            ctx.store.write_json(cid, report_file, review.report or review.model_dump(mode="json"))
            measured = {k: v for k, v in review.measurements.items() if k in ("params", "flops")}
            record.update({k: v for k, v in measured.items() if v is not None})
            if review.approved:
                decided = "approved"
                if last:
                    record["status"] = "approved"
            else:
                used = record["retries"].get(review.kind, 0)
                limit = retry_limit(review.kind, ctx.settings.verify)
                entry = {
                    "role": name, "code": review.code, "kind": review.kind,
                    "message": review.message, "transformation": record["transformation"],
                }  # fmt: skip
                record["feedback"] = [*record["feedback"], entry]
                if used < limit:
                    record["retries"] = {**record["retries"], review.kind: used + 1}
                    record["attempt"] += 1
                    record["status"] = "retry"
                    decided = f"sent back ({review.kind} retry {used + 1}/{limit}): {review.code}"
                else:
                    record["status"] = "rejected"
                    record["reason"] = f"{name}: {review.code}: {review.message}"
                    decided = f"rejected after {used} {review.kind} retries: {review.code}"
            ctx.tracer.emit(
                "role_step", role=name, candidate=cid,
                given=f"{proposal.transformation or proposal.mutation_type} (attempt {record['attempt']})",
                decided=decided, code=review.code, message=review.message,
                params=review.measurements.get("params"), flops=review.measurements.get("flops"),
                report=str(ctx.store.candidate_dir(cid) / report_file), seconds=timer.seconds, tokens=None,
            )  # fmt: skip
            updates[cid] = record  # type: ignore[assignment]
        return {"candidates": updates}

    gate.__name__ = f"gate_{name}"
    return gate


def after_gates(state: RunState) -> str:
    """Back to ``mutate`` while a candidate of the batch waits for a retry, else ``train``."""
    waiting = any(state["candidates"][cid]["status"] == "retry" for cid in state.get("batch", []))
    return "mutate" if waiting else "train"
