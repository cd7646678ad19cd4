"""Verifier role: the code-verifier gate before any training.

Reads: the proposal's ``model.py`` (and the parent's), the ``[verify]`` budgets and the
dataset's input shape.
Writes: a report following the verifier contract (``verify.json`` in the candidate folder).
Decides: whether the candidate may be trained; when not, which repair the mutation role
should attempt (debug an execution error, downscale over a budget, restructure).

The code runs only in a separate, limited process (:mod:`fairnad_tools.verify`).
"""

from __future__ import annotations

from typing import Any

from agents.base import GateRole, Proposal, Review
from agents.registry import register_role
from fairnad_tools.train import resolve_train_settings
from fairnad_tools.verify import verify_file


@register_role("verifier")
class VerifierRole(GateRole):
    summary = "builds each candidate in a sandbox; checks forward/backward, budgets and structure"
    reads = "model.py, the parent's model.py, [verify] budgets, the input shape"
    writes = "verify.json (ok, code, message, params, flops, seconds)"
    decides = "train or send back for debugging, downscaling or a real structural change"
    report_file = "verify.json"

    def review(self, proposal: Proposal) -> Review:
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
        return Review(
            approved=report.ok,
            code=report.code,
            message=report.message,
            kind=report.kind,
            measurements={
                "params": report.params,
                "flops": report.flops,
                "weighted_layers": report.weighted_layers,
                "signature": report.signature,
            },
            report=report.model_dump(mode="json"),
        )


def _largest_training_batch(settings: Any) -> int:
    """The largest batch training runs: the batch size plus one (a last batch of one image joins
    the batch before it, :func:`fairnad_tools.train.worker.batch_bounds`)."""
    batch = resolve_train_settings(settings.train, settings.data.dataset).batch_size
    return batch + 1
