"""Node ``mutate``: the mutation role proposes each planned (or sent-back) candidate.

The node writes ``model.py``, ``spec.json`` and ``mutation.json`` (parent, mutation type,
idea, sub-category and the transformation applied, so a candidate folder says how it was
made without the run's summary). A proposal that repeats an architecture already in the run,
or one a gate vetoed for this candidate, is refused here and the role is asked for another
edit (``MutationRequest.variant``). An unexpected exception in the role rejects the candidate
with the role's name and the error in the trace; the run goes on.

LLM calls: every exchange the role's chat model made is kept as
``candidates/<id>/llm/NN-<role>.json`` (``summary.json`` sums their tokens per candidate and
per role) and the role step's ``tokens`` field holds the step's share. An answer the role
could not use (:class:`MutationRetry`: cut short, no code, edits that do not apply) is an
``execution`` rejection by the mutation role, sent back
within ``roles.retries.execution``. A service failure after its retries (``LLMError``) rejects
the candidate (``llm.max_consecutive_failures`` in a row stop the run); a reached LLM budget
(``LLMBudgetExhausted``) stops the run, saved and resumable with a larger budget.

Each request carries the feedback role's latest lessons (``lessons`` in the run state, written
by the ``feedback`` node after each round), which an LLM mutation role shows in its prompts.
"""

from __future__ import annotations

import traceback
from typing import Any

from langgraph.runtime import Runtime

from agents.llm import LLMBudgetExhausted, LLMError
from agents.records import MutationFailed, MutationRequest, MutationResult, MutationRetry, ReviewNote
from graph.context import RunContext, Timer, record_llm_calls
from graph.nodes.gate import send_back
from graph.seeds import given_seed
from graph.state import CandidateRecord, RunState

MAX_DUPLICATE_TRIES = 8
MAX_LLM_DUPLICATE_TRIES = 3
"""An LLM is told what its duplicate repeated and asked twice more: each try costs a call."""
ACTIVE = frozenset({"proposed", "approved", "trained", "failed"})


def mutate(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Propose every candidate of the batch that is planned or was sent back; then the gates."""
    ctx = runtime.context
    role = ctx.roles.mutation
    candidates = dict(state["candidates"])
    updates: dict[str, CandidateRecord] = {}
    stopped: str | None = None
    for cid in state.get("batch", []):
        record: dict[str, Any] = dict(candidates[cid])
        if record["status"] not in ("planned", "retry"):
            continue
        if stopped is not None:  # the LLM budget ran out earlier in this batch
            record.update(status="rejected", reason=f"not made: {stopped}", not_made=True)
            updates[cid] = candidates[cid] = record
            continue
        seen = {
            c["structure_hash"]: f"candidate {c['id']}"
            for c in candidates.values()
            if c["status"] in ACTIVE and c["structure_hash"] and c["id"] != cid
        }
        for vetoed in record.get("vetoed", []):  # a gate's veto asks for a different edit
            seen.setdefault(vetoed, "an attempt a gate vetoed")
        request = _request(ctx, cid, record, candidates, lessons=state.get("lessons"))
        result: MutationResult | None = None
        error, crashed, retry, duplicates, tokens = None, None, None, 0, 0
        given = (
            f"{record['mutation_type']} of parent {record['parent']} (attempt {record['attempt']})"
            + (f", idea {record['idea']} [{record['sub_category']}]" if record["idea"] else "")
            + (f", after {record['feedback'][-1]['code']}" if record["feedback"] else "")
        )
        with Timer() as timer:
            seed = given_seed(ctx.settings, ctx.space) if record["mutation_type"] == "seed" else None
            tries = MAX_LLM_DUPLICATE_TRIES if role.uses_llm else MAX_DUPLICATE_TRIES
            for variant in range(tries if seed is None else 0):
                request.variant = variant
                try:
                    proposed = role.mutate(request)
                    if not isinstance(proposed, MutationResult):
                        raise TypeError(f"mutate() returned {type(proposed).__name__}, not a MutationResult")
                    result = proposed
                except MutationFailed as exc:
                    error = str(exc)
                    break
                except MutationRetry as exc:
                    retry = exc
                    break
                except LLMBudgetExhausted as exc:
                    stopped = str(exc)
                    break
                except LLMError as exc:
                    if exc.kind == "replay":  # the recording has no (or another) answer: the replay is over
                        stopped = f"replay ended: {exc}"
                        break
                    error = f"LLM {exc.kind}: {exc}"
                    record["llm_error"] = True
                    break
                except Exception as exc:  # noqa: BLE001 - a role's bug rejects one candidate, not the run
                    error = f"unexpected error in role {role.name!r}: {type(exc).__name__}: {exc}"
                    crashed = traceback.format_exc(limit=8)
                    break
                finally:
                    tokens += record_llm_calls(ctx)
                if result.structure_hash not in seen:
                    break
                duplicates += 1
                request.duplicates.append(f"{result.transformation} reproduced {seen[result.structure_hash]}")
                result = None
            if seed is not None:
                result = seed
        if stopped is not None:
            record.update(status="rejected", reason=f"not made: {stopped}", not_made=True)
            decided = f"stopped: {stopped}"
        elif retry is not None:
            for stale in ("model.py", "spec.json"):  # this attempt left no file: the next sees none
                (ctx.store.candidate_dir(cid) / stale).unlink(missing_ok=True)
            decided = send_back(ctx, role.name, record, code=retry.code, kind="execution", message=retry.message)
        elif result is None:
            reason = error or (
                f"duplicate: {duplicates} edits all reproduced architectures already in this run"
                + (" or vetoed by a gate" if record.get("vetoed") else "")
                + f" (last: {request.duplicates[-1]})"
            )
            record.update(status="rejected", reason=f"mutation: {reason}")
            decided = f"rejected: {reason}"
        else:
            ctx.store.write_text(cid, "model.py", result.source)
            spec_path = ctx.store.candidate_dir(cid) / "spec.json"
            if result.spec is not None:
                ctx.store.write_json(cid, "spec.json", result.spec)
            elif spec_path.exists():  # an earlier attempt's spec does not describe this code
                spec_path.unlink()
            record.update(
                status="proposed",
                transformation=result.transformation,
                structure_hash=result.structure_hash,
                mode=result.mode,
            )
            keys = ("parent", "mutation_type", "idea", "sub_category", "transformation", "structure_hash", "attempt")
            info = {key: record[key] for key in keys}
            info["mode"] = result.mode
            ctx.store.write_json(cid, "mutation.json", info)
            decided = result.transformation + (f" ({duplicates} duplicate edits skipped)" if duplicates else "")
        if crashed is not None:
            record["error_role"] = role.name
            ctx.tracer.emit("role_error", role=role.name, candidate=cid, given=given, message=error, traceback=crashed)
        if record.get("llm_error"):
            ctx.tracer.emit("llm_failure", role=role.name, candidate=cid, message=error)
        ctx.tracer.emit(
            "role_step",
            role=role.name,
            candidate=cid,
            given=given,
            decided=decided,
            seconds=timer.seconds,
            tokens=tokens or None,
            mode=record.get("mode") if result is not None else None,
        )
        updates[cid] = record
        candidates[cid] = record
    update: dict[str, Any] = {"candidates": updates}
    if stopped is not None:
        update.update(status="stopped", stop_reason=stopped)
    return update


def _idea(ctx: RunContext, idea_id: str | None) -> Any:
    if not idea_id:
        return None
    try:
        return ctx.bank().get(idea_id)
    except KeyError:
        return None


def _source_text(idea: Any) -> str | None:
    source = getattr(idea, "source", None)
    if source is None:
        return None
    parts = [str(value) for key in ("title", "authors", "venue", "year") if (value := getattr(source, key, None))]
    if getattr(source, "arxiv", None):
        parts.append(f"arXiv:{source.arxiv}")
    return ", ".join(parts) or None


def _request(
    ctx: RunContext, cid: str, record: dict[str, Any], candidates: dict[str, Any], lessons: str | None = None
) -> MutationRequest:
    idea = _idea(ctx, record["idea"])
    idea_title = idea.title if idea else None
    parent = record["parent"]
    parent_record = candidates.get(parent) if parent else None
    return MutationRequest(
        candidate_id=cid,
        mutation_type=record["mutation_type"],
        parent_id=parent,
        parent_spec=ctx.store.read_json(parent, "spec.json") if parent else None,
        parent_source=ctx.store.read_text(parent, "model.py") if parent else None,
        idea=record["idea"],
        idea_title=idea_title,
        idea_description=idea.description if idea else None,
        idea_evidence=getattr(idea, "evidence", None) if idea else None,
        idea_source=_source_text(idea) if idea else None,
        parent_params=(parent_record or {}).get("params"),
        parent_flops=(parent_record or {}).get("flops"),
        sub_category=record["sub_category"],
        input_shape=ctx.dataset.input_shape,
        max_params=ctx.settings.verify.max_params,
        max_flops=ctx.settings.verify.flops_budget(ctx.dataset.input_shape),
        seed_model=ctx.settings.search.seed_model,
        attempt=record["attempt"],
        previous_spec=ctx.store.read_json(cid, "spec.json") if record["attempt"] else None,
        previous_source=ctx.store.read_text(cid, "model.py") if record["attempt"] else None,
        feedback=[ReviewNote.model_validate(note) for note in record["feedback"]],
        seed=ctx.settings.search.seed,
        lessons=lessons,
    )
