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

Concurrency: with an LLM, the candidates of a batch are made at once, up to
``llm.concurrency`` (one at a time while an LLM budget is set, or while the run does not yet
know which structured-output method the server accepts). Each candidate's calls are keyed by
(candidate, attempt, role, step); duplicates are settled, files written and the trace emitted
afterwards in candidate id order, so a run's results and trace are the same whatever order the
answers arrive in, and a replay stays exact.

Iterative mutation with an LLM (``MutationResult.step == 1``): the first step, with the
analysis the role wrote (kept as ``analysis.md``), goes through the gates only; once approved
the last gate marks the candidate ``refine`` and this node asks for step 2, which refines it
and is trained and counted.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from langgraph.runtime import Runtime

from agents.llm import LLMBudgetExhausted, LLMError
from agents.records import (
    HistoryEntry,
    MutationFailed,
    MutationRequest,
    MutationResult,
    MutationRetry,
    RelatedIdea,
    ReviewNote,
)
from graph.context import RunContext, keep_llm_calls, trace_llm_calls
from graph.nodes.gate import send_back
from graph.seeds import given_seed
from graph.state import CandidateRecord, RunState

MAX_DUPLICATE_TRIES = 8
MAX_LLM_DUPLICATE_TRIES = 3
"""An LLM is told what its duplicate repeated and asked twice more: each try costs a call."""
ACTIVE = frozenset({"proposed", "approved", "trained", "failed", "refine"})
TO_MAKE = frozenset({"planned", "retry", "refine"})
HISTORY_TOP = 5
HISTORY_POOR = 2
RELATED_IDEAS = 5


@dataclass
class _Job:
    """One candidate being made: its request and what its tries gave."""

    cid: str
    record: dict[str, Any]
    request: MutationRequest
    given: str
    tries: int
    result: MutationResult | None = None
    outcome: str = "pending"  # pending, made, seed, failed, retry, stopped, duplicate
    error: str | None = None
    crashed: str | None = None
    retry: MutationRetry | None = None
    stopped: str | None = None
    duplicates: int = 0
    seconds: float = 0.0
    kept: list[Any] = field(default_factory=list)


def mutate(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Propose every candidate of the batch that is planned, sent back or due for its second step."""
    ctx = runtime.context
    role = ctx.roles.mutation
    candidates = dict(state["candidates"])
    batch = [cid for cid in state.get("batch", []) if candidates[cid]["status"] in TO_MAKE]
    # architectures already in the run, outside the candidates made now (those are settled in id order)
    taken = {
        c["structure_hash"]: f"candidate {c['id']}"
        for c in candidates.values()
        if c["status"] in ACTIVE and c["structure_hash"] and c["id"] not in batch
    }
    jobs = [_job(ctx, state, cid, dict(candidates[cid]), candidates) for cid in batch]
    pending = [job for job in jobs if job.outcome == "pending"]
    workers = _concurrency(ctx, role)
    claimed: dict[str, str] = {}  # structure hash -> the candidate of this batch that made it first
    stopped: str | None = None
    while pending and stopped is None:
        _run_all(role, pending, workers, lambda: _discovering(ctx, role))
        again = []
        for job in pending:  # settled in id order, whatever the order the calls finished in
            job.kept.extend(keep_llm_calls(ctx, job.cid))
            if stopped is not None:  # an earlier candidate stopped the run: this one is not made
                job.outcome, job.stopped, job.result = "stopped", stopped, None
                continue
            if job.outcome == "stopped":
                stopped = job.stopped
            if job.outcome != "made" or job.result is None:
                continue
            seen = {**taken, **{h: f"candidate {c}" for h, c in claimed.items() if c != job.cid}}
            for vetoed in job.record.get("vetoed", []):  # a gate's veto asks for a different edit
                seen.setdefault(vetoed, "an attempt a gate vetoed")
            if job.request.iter_step == 2 and job.record.get("step1_hash"):
                seen.setdefault(job.record["step1_hash"], "its own step 1")
            if job.result.structure_hash not in seen:
                claimed[job.result.structure_hash] = job.cid
                continue
            job.duplicates += 1
            job.request.duplicates.append(f"{job.result.transformation} reproduced {seen[job.result.structure_hash]}")
            job.result = None
            if job.request.variant + 1 < job.tries:
                job.request.variant += 1
                job.outcome = "pending"
                again.append(job)
            else:
                job.outcome = "duplicate"
        pending = again
    updates: dict[str, CandidateRecord] = {}
    for job in jobs:
        if stopped is not None and job.outcome in ("pending", "stopped"):
            job.outcome, job.stopped = "stopped", stopped
        _finish(ctx, role.name, job)
        updates[job.cid] = job.record
    update: dict[str, Any] = {"candidates": updates}
    if stopped is not None:
        update.update(status="stopped", stop_reason=stopped)
    return update


def _concurrency(ctx: RunContext, role: Any) -> int:
    """How many candidates are made at once: 1 without an LLM or with an LLM budget set."""
    if not role.uses_llm or ctx.ledger is None or ctx.ledger.budgeted:
        return 1
    return max(1, int(ctx.settings.llm.concurrency))


def _job(ctx: RunContext, state: RunState, cid: str, record: dict[str, Any], candidates: dict[str, Any]) -> _Job:
    request = _request(ctx, state, cid, record, candidates)
    notes = record["feedback"][record.get("step2_from", 0) :] if request.iter_step == 2 else record["feedback"]
    given = (
        f"{record['mutation_type']} of parent {record['parent']} (attempt {record['attempt']})"
        + (f", idea {record['idea']} [{record['sub_category']}]" if record["idea"] else "")
        + (f", step {request.iter_step} of 2" if request.iter_step else "")
        + (f", after {notes[-1]['code']}" if notes else "")
    )
    tries = MAX_LLM_DUPLICATE_TRIES if ctx.roles.mutation.uses_llm else MAX_DUPLICATE_TRIES
    job = _Job(cid, record, request, given, tries)
    if record["mutation_type"] == "seed":
        seed = given_seed(ctx.settings, ctx.space)  # a seed file of the user's; None: the role makes the seed
        if seed is not None:
            job.result, job.outcome = seed, "seed"
    return job


def _discovering(ctx: RunContext, role: Any) -> bool:
    """Whether the role may still learn which structured-output method the server accepts (its
    first structured answer settles it for the run): until then candidates are made one at a time,
    so each candidate's calls (and a replay's) are the same whatever the timing."""
    ledger = ctx.ledger
    return ledger is not None and ledger.method is None and str(getattr(role, "mode", "auto")) in ("auto", "spec")


def _run_all(role: Any, jobs: list[_Job], workers: int, discovering: Callable[[], bool]) -> None:
    queue = list(jobs)
    while queue and (workers <= 1 or len(queue) <= 1 or discovering()):
        job = queue.pop(0)
        _try(role, job)
        if job.outcome == "stopped":  # the later candidates are not made (not asked)
            return
    if not queue:
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(queue)), thread_name_prefix="fairnad-mutate") as pool:
        for future in [pool.submit(_try, role, job) for job in queue]:
            future.result()


def _try(role: Any, job: _Job) -> None:
    """One call of the role for ``job``; records what came of it on the job (never raises)."""
    started = time.monotonic()
    try:
        proposed = role.mutate(job.request)
        if not isinstance(proposed, MutationResult):
            raise TypeError(f"mutate() returned {type(proposed).__name__}, not a MutationResult")
        job.result, job.outcome = proposed, "made"
    except MutationFailed as exc:
        job.error, job.outcome = str(exc), "failed"
    except MutationRetry as exc:
        job.retry, job.outcome = exc, "retry"
    except LLMBudgetExhausted as exc:
        job.stopped, job.outcome = str(exc), "stopped"
    except LLMError as exc:
        if exc.kind == "replay":  # the recording has no (or another) answer: the replay is over
            job.stopped, job.outcome = f"replay ended: {exc}", "stopped"
        else:
            job.error, job.outcome = f"LLM {exc.kind}: {exc}", "failed"
            job.record["llm_error"] = True
    except Exception as exc:  # noqa: BLE001 - a role's bug rejects one candidate, not the run
        job.error = f"unexpected error in role {role.name!r}: {type(exc).__name__}: {exc}"
        job.crashed, job.outcome = traceback.format_exc(limit=8), "failed"
    finally:
        job.seconds += time.monotonic() - started


def _finish(ctx: RunContext, role_name: str, job: _Job) -> None:
    """Write the job's files, update its record and trace it (called in candidate id order)."""
    record, cid = job.record, job.cid
    tokens = trace_llm_calls(ctx, job.kept)
    result = job.result if job.outcome in ("made", "seed") else None
    if job.outcome == "stopped":
        record.update(status="rejected", reason=f"not made: {job.stopped}", not_made=True)
        decided = f"stopped: {job.stopped}"
        if not job.kept and not job.seconds:  # never tried: the run stopped before its turn
            return
    elif job.outcome == "retry" and job.retry is not None:
        for stale in ("model.py", "spec.json"):  # this attempt left no file: the next sees none
            (ctx.store.candidate_dir(cid) / stale).unlink(missing_ok=True)
        retry = job.retry
        analysis = retry.analysis
        if analysis:  # an iterative step 1 that failed after its analysis: the retry reuses it
            ctx.store.write_text(cid, "analysis.md", analysis.strip() + "\n")
        decided = send_back(ctx, role_name, record, code=retry.code, kind="execution", message=retry.message)
    elif result is None:
        reason = job.error or (
            f"duplicate: {job.duplicates} tries all reproduced architectures already in this run"
            + (" or vetoed by a gate" if record.get("vetoed") else "")
            + (f" (last: {job.request.duplicates[-1]})" if job.request.duplicates else "")
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
        if result.analysis:
            ctx.store.write_text(cid, "analysis.md", result.analysis.strip() + "\n")
        step = result.step if result.step == 1 else (2 if job.request.iter_step == 2 else None)
        record.update(
            status="proposed",
            transformation=result.transformation,
            structure_hash=result.structure_hash,
            mode=result.mode,
            iter_step=step,
        )
        keys = ("parent", "mutation_type", "idea", "sub_category", "transformation", "structure_hash", "attempt")
        info = {key: record[key] for key in keys}
        info["mode"] = result.mode
        if step is not None:
            info["iter_step"] = step
        ctx.store.write_json(cid, "mutation.json", info)
        decided = result.transformation + (f" ({job.duplicates} duplicate edits skipped)" if job.duplicates else "")
        if step == 1:
            decided += " (iterative step 1 of 2: verified only, then refined)"
    if job.crashed is not None:
        record["error_role"] = role_name
        ctx.tracer.emit(
            "role_error", role=role_name, candidate=cid, given=job.given, message=job.error, traceback=job.crashed
        )
    if record.get("llm_error"):
        ctx.tracer.emit("llm_failure", role=role_name, candidate=cid, message=job.error)
    ctx.tracer.emit(
        "role_step",
        role=role_name,
        candidate=cid,
        given=job.given,
        decided=decided,
        seconds=round(job.seconds, 3),
        tokens=tokens or None,
        mode=record.get("mode") if result is not None else None,
        iter_step=job.request.iter_step,
    )


def _source_text(idea: Any) -> str | None:
    source = getattr(idea, "source", None)
    if source is None:
        return None
    parts = [str(value) for key in ("title", "authors", "venue", "year") if (value := getattr(source, key, None))]
    if getattr(source, "arxiv", None):
        parts.append(f"arXiv:{source.arxiv}")
    return ", ".join(parts) or None


def _request(
    ctx: RunContext, state: RunState, cid: str, record: dict[str, Any], candidates: dict[str, Any]
) -> MutationRequest:
    idea = ctx.idea(record["idea"])
    idea_title = idea.title if idea else None
    parent = record["parent"]
    parent_record = candidates.get(parent) if parent else None
    request = MutationRequest(
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
        lessons=state.get("lessons"),
    )
    if record["mutation_type"] == "iterative" and ctx.roles.mutation.uses_llm:
        step = record.get("iter_step") or 1
        if record["status"] == "refine":
            step = 2
        request.iter_step = step
        request.analysis = ctx.store.read_text(cid, "analysis.md")
        request.history = history(candidates, ctx)
        request.related_ideas = related_ideas(ctx, idea)
        if step == 2:
            request.feedback = request.feedback[record.get("step2_from", 0) :]  # step 1's notes are settled
            request.parent_params, request.parent_flops = record["params"], record["flops"]  # step 1's
            request.step1_spec = ctx.store.read_json(cid, "step1-spec.json")
            request.step1_source = ctx.store.read_text(cid, "step1.py")
            if record["status"] == "refine":  # the first try of step 2: nothing of it was rejected yet
                request.previous_spec = request.previous_source = None
    return request


def history(candidates: dict[str, Any], ctx: RunContext) -> list[HistoryEntry]:
    """The iterative mutation's history: the :data:`HISTORY_TOP` best trained candidates by
    validation accuracy (ties: fewer parameters, then id), then the :data:`HISTORY_POOR` worst
    of the rest (``poor=True``)."""
    done = [c for c in candidates.values() if c["status"] == "trained" and c["val_acc"] is not None]
    done.sort(key=lambda c: (-c["val_acc"], c["params"] or 0, c["id"]))
    top = done[:HISTORY_TOP]
    rest = done[HISTORY_TOP:]
    poor = rest[-HISTORY_POOR:] if rest else []

    def entry(c: dict[str, Any], is_poor: bool) -> HistoryEntry:
        idea = ctx.idea(c["idea"])
        return HistoryEntry(
            id=c["id"],
            mutation_type=c["mutation_type"],
            idea=c["idea"],
            idea_title=idea.title if idea else None,
            sub_category=c["sub_category"],
            transformation=c["transformation"],
            val_acc=c["val_acc"],
            params=c["params"],
            flops=c["flops"],
            poor=is_poor,
        )

    return [entry(c, False) for c in top] + [entry(c, True) for c in reversed(poor)]


def related_ideas(ctx: RunContext, idea: Any) -> list[RelatedIdea]:
    """Up to :data:`RELATED_IDEAS` other ideas of the bank: the same sub-category first, then the
    same main category (``level.category``), in bank order."""
    if idea is None:  # no idea, or one the bank does not hold
        return []
    ideas = ctx.bank().ideas  # the bank the idea came from
    main = idea.sub_category.rsplit(".", 1)[0]
    same = [i for i in ideas if i.id != idea.id and i.sub_category == idea.sub_category]
    near = [
        i
        for i in ideas
        if i.id != idea.id and i.sub_category != idea.sub_category and i.sub_category.startswith(main + ".")
    ]
    return [
        RelatedIdea(id=i.id, title=i.title, sub_category=i.sub_category, description=i.description[:240])
        for i in (same + near)[:RELATED_IDEAS]
    ]
