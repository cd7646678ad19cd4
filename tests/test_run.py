"""End to end: `fairnad run` on digits, its run directory, summary, trace and status."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import read_summary, read_trace, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_run_finishes_with_the_summary_contract(digits_run):
    summary = read_summary(digits_run)
    assert summary["schema_version"] == 1 and summary["status"] == "finished"
    assert summary["budget"] == 6 and summary["dataset"] == "digits" and summary["run_id"]
    counted = [c for c in summary["candidates"] if c["status"] in ("trained", "failed")]
    assert len(counted) == 6
    trained = [c for c in counted if c["status"] == "trained"]
    assert len(trained) >= 5
    keys = {"id", "parent", "round", "mutation_type", "transformation", "idea", "sub_category", "status",
            "reason", "params", "flops", "val_acc", "test_acc", "seconds"}  # fmt: skip
    for c in summary["candidates"]:
        assert keys <= set(c)
        assert isinstance(c["id"], str)
        assert c["mutation_type"] in {"seed", "fair_idea", "pareto_scale_up", "pareto_tune", "iterative"}
    for c in trained:
        assert 0 <= c["val_acc"] <= 1 and 0 <= c["test_acc"] <= 1
        assert c["params"] > 0 and c["flops"] > 0
        folder = digits_run / "candidates" / c["id"]
        for name in ("model.py", "spec.json", "mutation.json", "verify.json", "metrics.json", "train.log"):
            assert (folder / name).is_file(), f"{c['id']}/{name}"
        made = json.loads((folder / "mutation.json").read_text())
        assert made["transformation"] == c["transformation"] and made["parent"] == c["parent"]
        assert json.loads((folder / "verify.json").read_text())["ok"] is True
    typed = re.compile(r"^(idea|hyperparameter|swap|insert|delete|scale|scale_up|downscale)\(")
    mutated = [c for c in summary["candidates"][1:] if c["status"] in ("trained", "failed")]
    assert mutated and all(typed.match(c["transformation"] or "") for c in mutated), [
        c["transformation"] for c in mutated
    ]
    assert summary["candidates"][0]["transformation"].startswith("seed(resnet32)")
    specs = {(digits_run / "candidates" / c["id"] / "spec.json").read_text() for c in trained}
    assert len(specs) == len(trained)  # the same architecture is never trained twice
    seed = summary["candidates"][0]
    assert seed["id"] == "0000" and seed["mutation_type"] == "seed" and seed["parent"] is None
    assert summary["best"] in {c["id"] for c in trained}
    assert set(summary["pareto"]) <= {c["id"] for c in trained} and summary["pareto"]
    ideas = [c for c in summary["candidates"] if c["idea"]]
    assert all(c["sub_category"] and c["sub_category"].count(".") == 2 for c in ideas)
    for name in ("run.json", "settings.toml", "checkpoints.sqlite", "trace.jsonl"):
        assert (digits_run / name).is_file()
    assert (digits_run / "knowledge").is_dir()


def test_trace_has_all_four_roles_and_filters_by_role(digits_run):
    events = read_trace(digits_run)
    assert all({"v", "ts", "event", "role", "candidate"} <= set(e) for e in events)
    roles = {e["role"] for e in events if e["event"] == "role_step"}
    assert {"extractor", "mutation", "verifier", "feedback"} <= roles
    assert any(e["event"] == "tool_call" and e.get("tool") == "train" for e in events)
    result = run_cli("trace", str(digits_run), "--role", "verifier", "--json")
    assert result.returncode == 0, result.stderr
    shown = [json.loads(line) for line in result.stdout.splitlines()]
    assert shown and {e["role"] for e in shown} == {"verifier"}
    readable = run_cli("trace", str(digits_run), "--candidate", "0000")
    assert "seed(resnet32)" in readable.stdout


def test_status_prints_candidates_and_the_pareto_front(digits_run):
    result = run_cli("status", str(digits_run))
    assert result.returncode == 0, result.stderr
    assert "Pareto front" in result.stdout and "0000" in result.stdout
    for cid in read_summary(digits_run)["pareto"]:
        assert f"{cid}  val" in result.stdout


def test_run_on_a_finished_run_dir_is_refused_and_resume_is_a_no_op(digits_run):
    result = run_cli("run", "--run-dir", str(digits_run), "--budget", "2")
    assert result.returncode != 0 and "already holds" in result.stderr and "Traceback" not in result.stderr
    before = read_summary(digits_run)
    again = run_cli("resume", str(digits_run), "-q")
    assert again.returncode == 0, again.stderr
    assert read_summary(digits_run)["candidates"] == before["candidates"]
