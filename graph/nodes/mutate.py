"""Node ``mutate``: the mutation role proposes each planned (or sent-back) candidate.

The node writes ``model.py``, ``spec.json`` and ``mutation.json`` (parent, mutation type,
idea, sub-category and the transformation applied, so a candidate folder says how it was
made without the run's summary); a proposal that repeats an architecture
already in the run is refused here and the role is asked for another edit.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agents.mutation import MutationFailed, MutationRequest
from graph.context import RunContext, Timer
from graph.state import CandidateRecord, RunState

MAX_DUPLICATE_TRIES = 8
ACTIVE = frozenset({"proposed", "approved", "trained", "failed"})


def mutate(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Propose every candidate of the batch that is planned or was sent back; then the gates."""
    ctx = runtime.context
    role = ctx.roles["mutation"]
    candidates = dict(state["candidates"])
    updates: dict[str, CandidateRecord] = {}
    for cid in state.get("batch", []):
        record = dict(candidates[cid])
        if record["status"] not in ("planned", "retry"):
            continue
        seen = {
            c["structure_hash"]
            for c in candidates.values()
            if c["status"] in ACTIVE and c["structure_hash"] and c["id"] != cid
        }
        idea_title = None
        if record["idea"]:
            try:
                idea_title = ctx.bank().get(record["idea"]).title
            except KeyError:
                idea_title = None
        parent = record["parent"]
        request = MutationRequest(
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
            feedback=record["feedback"],
            seed=ctx.settings.search.seed,
        )
        result, error, duplicates = None, None, 0
        with Timer() as timer:
            for variant in range(MAX_DUPLICATE_TRIES):
                request.variant = variant
                try:
                    result = role.mutate(request)  # type: ignore[attr-defined]
                except MutationFailed as exc:
                    error = str(exc)
                    break
                if result.structure_hash not in seen:
                    break
                duplicates += 1
                result = None
        given = (
            f"{record['mutation_type']} of parent {parent} (attempt {record['attempt']})"
            + (f", idea {record['idea']} [{record['sub_category']}]" if record["idea"] else "")
            + (f", after {record['feedback'][-1]['code']}" if record["feedback"] else "")
        )
        if result is None:
            reason = error or (
                f"duplicate: {MAX_DUPLICATE_TRIES} edits all reproduced architectures already in this run"
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
            ctx.store.write_json(cid, "mutation.json", {
                key: record[key] for key in (
                    "parent", "mutation_type", "idea", "sub_category", "transformation", "structure_hash", "attempt"
                )
            })  # fmt: skip
            decided = result.transformation + (f" ({duplicates} duplicate edits skipped)" if duplicates else "")
            seen.add(result.structure_hash)
        ctx.tracer.emit(
            "role_step", role=role.name, candidate=cid, given=given, decided=decided,
            seconds=timer.seconds, tokens=None,
        )  # fmt: skip
        updates[cid] = record  # type: ignore[assignment]
        candidates[cid] = record  # type: ignore[assignment]
    return {"candidates": updates}
