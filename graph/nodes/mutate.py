"""Node ``mutate``: the mutation role proposes each planned (or sent-back) candidate.

The node writes ``model.py``, ``spec.json`` and ``mutation.json`` (parent, mutation type,
idea, sub-category and the transformation applied, so a candidate folder says how it was
made without the run's summary). A proposal that repeats an architecture already in the run,
or one a gate vetoed for this candidate, is refused here and the role is asked for another
edit (``MutationRequest.variant``). An unexpected exception in the role rejects the candidate
with the role's name and the error in the trace; the run goes on.
"""

from __future__ import annotations

import traceback
from typing import Any

from langgraph.runtime import Runtime

from agents.records import MutationFailed, MutationRequest, MutationResult, ReviewNote
from graph.context import RunContext, Timer
from graph.state import CandidateRecord, RunState

MAX_DUPLICATE_TRIES = 8
ACTIVE = frozenset({"proposed", "approved", "trained", "failed"})


def mutate(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Propose every candidate of the batch that is planned or was sent back; then the gates."""
    ctx = runtime.context
    role = ctx.roles.mutation
    candidates = dict(state["candidates"])
    updates: dict[str, CandidateRecord] = {}
    for cid in state.get("batch", []):
        record: dict[str, Any] = dict(candidates[cid])
        if record["status"] not in ("planned", "retry"):
            continue
        seen = {
            c["structure_hash"]
            for c in candidates.values()
            if c["status"] in ACTIVE and c["structure_hash"] and c["id"] != cid
        }
        seen.update(record.get("vetoed", []))  # a gate's veto asks for a different edit
        request = _request(ctx, cid, record)
        result: MutationResult | None = None
        error, crashed, duplicates = None, None, 0
        with Timer() as timer:
            for variant in range(MAX_DUPLICATE_TRIES):
                request.variant = variant
                try:
                    proposed = role.mutate(request)
                    if not isinstance(proposed, MutationResult):
                        raise TypeError(f"mutate() returned {type(proposed).__name__}, not a MutationResult")
                    result = proposed
                except MutationFailed as exc:
                    error = str(exc)
                    break
                except Exception as exc:  # noqa: BLE001 - a role's bug rejects one candidate, not the run
                    error = f"unexpected error in role {role.name!r}: {type(exc).__name__}: {exc}"
                    crashed = traceback.format_exc(limit=8)
                    break
                if result.structure_hash not in seen:
                    break
                duplicates += 1
                result = None
        given = (
            f"{record['mutation_type']} of parent {record['parent']} (attempt {record['attempt']})"
            + (f", idea {record['idea']} [{record['sub_category']}]" if record["idea"] else "")
            + (f", after {record['feedback'][-1]['code']}" if record["feedback"] else "")
        )
        if result is None:
            reason = error or (
                f"duplicate: {MAX_DUPLICATE_TRIES} edits all reproduced architectures already in this run"
                + (" or vetoed by a gate" if record.get("vetoed") else "")
            )
            record.update(status="rejected", reason=f"mutation: {reason}")
            decided = f"rejected: {reason}"
        else:
            ctx.store.write_text(cid, "model.py", result.source)
            if result.spec is not None:
                ctx.store.write_json(cid, "spec.json", result.spec)
            record.update(
                status="proposed",
                transformation=result.transformation,
                structure_hash=result.structure_hash,
            )
            keys = ("parent", "mutation_type", "idea", "sub_category", "transformation", "structure_hash", "attempt")
            ctx.store.write_json(cid, "mutation.json", {key: record[key] for key in keys})
            decided = result.transformation + (f" ({duplicates} duplicate edits skipped)" if duplicates else "")
        if crashed is not None:
            record["error_role"] = role.name
            ctx.tracer.emit("role_error", role=role.name, candidate=cid, given=given, message=error, traceback=crashed)
        ctx.tracer.emit(
            "role_step", role=role.name, candidate=cid, given=given, decided=decided, seconds=timer.seconds, tokens=None
        )
        updates[cid] = record
        candidates[cid] = record
    return {"candidates": updates}


def _request(ctx: RunContext, cid: str, record: dict[str, Any]) -> MutationRequest:
    idea_title = None
    if record["idea"]:
        try:
            idea_title = ctx.bank().get(record["idea"]).title
        except KeyError:
            idea_title = None
    parent = record["parent"]
    return MutationRequest(
        candidate_id=cid,
        mutation_type=record["mutation_type"],
        parent_id=parent,
        parent_spec=ctx.store.read_json(parent, "spec.json") if parent else None,
        parent_source=ctx.store.read_text(parent, "model.py") if parent else None,
        idea=record["idea"],
        idea_title=idea_title,
        sub_category=record["sub_category"],
        input_shape=ctx.dataset.input_shape,
        max_params=ctx.settings.verify.max_params,
        max_flops=ctx.settings.verify.flops_budget(ctx.dataset.input_shape),
        seed_model=ctx.settings.search.seed_model,
        attempt=record["attempt"],
        previous_spec=ctx.store.read_json(cid, "spec.json") if record["attempt"] else None,
        feedback=[ReviewNote.model_validate(note) for note in record["feedback"]],
        seed=ctx.settings.search.seed,
    )
