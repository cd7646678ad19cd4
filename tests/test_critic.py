"""A new role in one file plus one configuration line: registry, drawn graph, trace.

The test copies FairNAD's packages into a scratch project, adds ``agents/critic.py``
and the single line ``roles.gates = ["critic", "verifier"]`` to its ``fairnad.toml``.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT, read_summary, read_trace, run_cli

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"

CRITIC = '''
"""Critic role: reviews a mutation before verification.

Reads: the proposal's spec. Writes: critic.json. Decides: 7x7 kernels are refused (slow on CPU).
"""

from agents.base import GateRole, Proposal, Review
from agents.registry import register_role


@register_role("critic")
class CriticRole(GateRole):
    summary = "refuses 7x7 kernels before any code runs"
    reads = "the proposal's spec"
    writes = "critic.json"
    decides = "whether the edit is worth verifying"

    def review(self, proposal: Proposal) -> Review:
        stages = (proposal.spec or {}).get("stages", [])
        if any(stage["block"]["kernel_size"] == 7 for stage in stages):
            return Review(approved=False, code="too_slow", kind="review", message="7x7 kernels are too slow here")
        return Review(approved=True, message="looks reasonable")
'''


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("FAIRNAD_UPDATE_SNAPSHOTS") == "1":
        path.write_text(text)
    assert path.is_file(), f"missing snapshot {path}; run the tests with FAIRNAD_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(), f"the drawn graph changed; review it and update {path}"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    for package in ("fairnad", "agents", "graph", "fairnad_tools", "knowledge"):
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "agents" / "critic.py").write_text(textwrap.dedent(CRITIC))  # the one new file
    (root / "fairnad.toml").write_text('roles.gates = ["critic", "verifier"]\n')  # the one line
    return root


def test_default_graph_snapshot():
    result = run_cli("graph", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    check_snapshot("graph_default.mmd", result.stdout)


def test_critic_appears_in_roles_and_the_drawn_graph(project):
    roles = run_cli("roles", cwd=project)
    assert roles.returncode == 0, roles.stderr
    line = next(line for line in roles.stdout.splitlines() if "critic" in line)
    assert "gate 1 of 2" in line and "agents.critic.CriticRole" in line
    drawn = run_cli("graph", cwd=project)
    assert drawn.returncode == 0, drawn.stderr
    assert "mutate --> critic" in drawn.stdout and "critic --> verifier" in drawn.stdout
    check_snapshot("graph_critic.mmd", drawn.stdout)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_critic_runs_in_the_loop(project, tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli("run", "--run-dir", str(run_dir), "--budget", "3", "--epochs", "1", "-q", cwd=project, timeout=500)
    assert result.returncode == 0, result.stdout + result.stderr
    critic_steps = [e for e in read_trace(run_dir) if e["event"] == "role_step" and e["role"] == "critic"]
    assert critic_steps and all(e["candidate"] for e in critic_steps)
    assert read_summary(run_dir)["counted"] == 3
    reviewed = {e["candidate"] for e in critic_steps}
    assert all((run_dir / "candidates" / cid / "critic.json").is_file() for cid in reviewed)


def _large_kernel_ideas(path: Path) -> Path:
    import yaml

    data = yaml.safe_load((ROOT / "knowledge" / "data" / "starter_ideas.yaml").read_text())
    data["ideas"] = [i for i in data["ideas"] if i["sub_category"] == "operation.spatial_mixing.large_kernel_conv"]
    assert data["ideas"], "the starter bank has no large-kernel idea any more"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_critic_refuses_a_7x7_proposal_which_comes_back_with_a_different_edit(project, tmp_path):
    from agents.records import Proposal

    critic_module = {}
    exec(
        compile(textwrap.dedent(CRITIC).replace("@register_role", "# @register_role"), "critic", "exec"), critic_module
    )
    from fairnad_tools.arch.seeds import convnext, resnet32

    def proposal(spec) -> Proposal:
        return Proposal(
            candidate_id="0001",
            parent_id="0000",
            mutation_type="fair_idea",
            transformation="t",
            model_path=tmp_path / "model.py",
            spec=spec.model_dump(mode="json"),
            input_shape=(3, 16, 16),
            num_classes=10,
        )

    critic = critic_module["CriticRole"](None)
    assert critic.review(proposal(convnext((3, 16, 16)))).approved is False  # all 7x7 ConvNeXt blocks
    assert critic.review(proposal(resnet32((3, 16, 16)))).approved is True  # 3x3 ResNet blocks

    config = tmp_path / "critic.toml"
    config.write_text(
        'roles.gates = ["critic", "verifier"]\n'
        f"knowledge.ideas = [{str(_large_kernel_ideas(tmp_path / 'ideas.yaml'))!r}]\n"
        "search.max_consecutive_rejections = 2\n"
        "search.mutation_mix = {fair_idea = 1, pareto = 0, iterative = 0}\n"
    )
    run_dir = tmp_path / "run"
    result = run_cli(
        "run",
        "--run-dir",
        str(run_dir),
        "--config",
        str(config),
        "--budget",
        "3",
        "--epochs",
        "1",
        "-q",
        cwd=project,
        timeout=500,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    trace = read_trace(run_dir)
    critic_steps = [
        e for e in trace if e["event"] == "role_step" and e["role"] == "critic" and e["candidate"] == "0001"
    ]
    mutations = [e for e in trace if e["event"] == "role_step" and e["role"] == "mutation" and e["candidate"] == "0001"]
    # 1. the critic refused the 7x7 proposal, 2. it was sent back, 3. it came back with a different edit
    assert critic_steps[0]["code"] == "too_slow" and "kernel" in critic_steps[0]["message"]
    assert critic_steps[0]["decided"] == "sent back (review retry 1/1): too_slow"
    assert len(mutations) == 2 and mutations[1]["given"].endswith("after too_slow")
    assert mutations[1]["decided"] != mutations[0]["decided"]
    assert mutations[1]["decided"].startswith(critic_steps[1]["given"].removesuffix(" (attempt 1)"))
    summary = read_summary(run_dir)
    first = next(c for c in summary["candidates"] if c["id"] == "0001")
    assert first["status"] == "rejected" and first["reason"].startswith("critic: too_slow")
    feedback = [e for e in trace if e["event"] == "role_step" and e["role"] == "feedback" and e["candidate"] is None]
    assert any("0001: " in e["decided"] and "vetoed" in e["decided"] for e in feedback)
