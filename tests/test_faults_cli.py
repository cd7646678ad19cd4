"""Issue 8, kinds 9-13, through the command line as a user types it.

Kind 9: ``FAIRNAD_<SECTION>__<KEY>`` variables reach the settings (case ``env_vars_ignored``),
every layer of the precedence holds end to end, and the LLM key never lands in a run file.
Kind 12: ``status`` tells a running run from an interrupted one; ``resume --budget`` extends
finished and stopped runs, refuses a budget below what was counted, and the new budget is kept.
Kind 13: ``trace`` filters match what the table shows and list the valid values on a miss.
(Kinds 10 and 11 are in ``test_cli_errors.py``.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT, cli_env, read_summary, read_trace, run_cli

pytestmark = pytest.mark.timeout(300)

CASE = Path(__file__).resolve().parent / "faults" / "env_vars_ignored"
SECRET = "sk-fairnad-test-0123456789abcdef"


def shown(result: subprocess.CompletedProcess[str]) -> dict:
    """``fairnad config show``'s output, which must be TOML."""
    assert result.returncode == 0, result.stderr
    return tomllib.loads(result.stdout)


# -- kind 9: the environment layer ---------------------------------------------------------------
def test_case_env_vars_ignored_script(tmp_path):
    """The case's own run.sh, with the right values of its expected.md."""
    wrapper = tmp_path / "fairnad"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m fairnad "$@"\n')
    wrapper.chmod(0o755)
    env = cli_env({"FAIRNAD": str(wrapper), "PY": sys.executable})
    result = subprocess.run(["bash", str(CASE / "run.sh")], env=env, capture_output=True, text=True, timeout=240)
    lines = result.stdout.splitlines()
    assert "budget = 5" in lines and "time_limit_s = 2.0" in lines and "threads = 1" in lines, result.stdout
    assert "exit 2 (want 2)" in lines, result.stdout + result.stderr
    assert "provider openai | api_key set: True" in lines, result.stdout + result.stderr
    assert lines[-1] == "exit 2", result.stdout  # a misspelt section is still reported
    assert "Traceback" not in result.stderr


def test_case_values_through_config_show(tmp_path):
    env = {"FAIRNAD_TRAIN__TIME_LIMIT_S": "2", "FAIRNAD_SEARCH__BUDGET": "5", "FAIRNAD_TRAIN__THREADS": "1"}
    data = shown(run_cli("config", "show", env=env, cwd=tmp_path))
    assert data["search"]["budget"] == 5 and data["train"]["time_limit_s"] == 2.0 and data["train"]["threads"] == 1


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("FAIRNAD_TRAIN__THREADS", "notanumber", "valid integer"),
        ("FAIRNAD_SEARCH__BUDGET", "-4", "greater than or equal to 1"),
        ("FAIRNAD_DATA__DATASET", "mnist", "'digits', 'cifar10' or 'cifar100'"),
    ],
)
def test_an_invalid_value_from_the_environment_is_refused_naming_the_variable(tmp_path, name, value, fragment):
    result = run_cli("config", "show", env={name: value}, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error:") and name in result.stderr and fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_the_llm_key_and_provider_come_from_the_environment_and_show_masked(tmp_path):
    env = {"FAIRNAD_LLM__PROVIDER": "openai", "FAIRNAD_LLM__API_KEY": SECRET}
    result = run_cli("config", "show", env=env, cwd=tmp_path)
    data = shown(result)
    assert data["llm"]["provider"] == "openai" and data["llm"]["api_key"] == "***"
    assert SECRET not in result.stdout + result.stderr
    assert "api_key" not in shown(run_cli("config", "show", cwd=tmp_path))["llm"]  # no key: none shown


def test_a_key_in_the_config_file_is_refused_without_echoing_it(tmp_path):
    (tmp_path / "fairnad.toml").write_text(f'[llm]\nprovider = "openai"\napi_key = "{SECRET}"\n')
    result = run_cli("config", "show", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error:"), result.stdout + result.stderr
    assert "llm.api_key" in result.stderr and "FAIRNAD_LLM__API_KEY" in result.stderr
    assert SECRET not in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_config_show_prints_one_key_value_line_per_setting(tmp_path):
    result = run_cli("config", "show", env={"FAIRNAD_SEARCH__BUDGET": "9"}, cwd=tmp_path)
    lines = [line for line in result.stdout.splitlines() if line and not line.startswith("[")]
    assert lines and all(" = " in line for line in lines), result.stdout
    assert "budget = 9" in lines


def test_precedence_env_over_file_over_defaults_through_the_cli(tmp_path):
    (tmp_path / "fairnad.toml").write_text("[search]\nbudget = 3\nseed = 5\n[train]\nepochs = 4\n")
    env = {"FAIRNAD_SEARCH__BUDGET": "7", "FAIRNAD_TRAIN__EPOCHS": "6"}
    data = shown(run_cli("config", "show", env=env, cwd=tmp_path))  # ./fairnad.toml is read
    assert data["search"]["budget"] == 7 and data["train"]["epochs"] == 6  # environment over the file
    assert data["search"]["seed"] == 5  # the file over the defaults
    assert data["train"]["time_limit_s"] == 1800 and data["search"]["min_rounds"] == 4  # defaults
    other = tmp_path / "other.toml"
    other.write_text("[search]\nbudget = 11\n")
    env_file = {"FAIRNAD_CONFIG": str(other)}
    assert shown(run_cli("config", "show", env=env_file, cwd=tmp_path))["search"]["budget"] == 11
    assert shown(run_cli("config", "show", "--config", str(other), cwd=tmp_path))["search"]["budget"] == 11


def test_nested_keys_lists_and_case_insensitive_names_through_the_cli(tmp_path):
    env = {
        "FAIRNAD_SEARCH__MUTATION_MIX__FAIR_IDEA": "2",
        "fairnad_search__mutation_mix__iterative": "0",
        "FAIRNAD_ROLES__GATES": '["critic", "verifier"]',
        "Fairnad_Train__Device": "cpu",
    }
    data = shown(run_cli("config", "show", env=env, cwd=tmp_path))
    assert data["search"]["mutation_mix"] == {"fair_idea": 2, "pareto": 8, "iterative": 0}
    assert data["roles"]["gates"] == ["critic", "verifier"] and data["train"]["device"] == "cpu"


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("FAIRNAD_SEARCH__BUGDET", "did you mean FAIRNAD_SEARCH__BUDGET?"),
        ("FAIRNAD_SEARCH__MUTATION_MIX__PARTEO", "did you mean FAIRNAD_SEARCH__MUTATION_MIX__PARETO?"),
        ("FAIRNAD_LLM_API_KEY", "did you mean FAIRNAD_LLM__API_KEY?"),
    ],
)
def test_an_unknown_key_in_a_known_section_says_what_was_meant(tmp_path, name, hint):
    result = run_cli("config", "show", env={name: "1"}, cwd=tmp_path)
    assert result.returncode == 2 and name in result.stderr and hint in result.stderr, result.stderr
    assert "1" not in result.stdout


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_flags_over_environment_over_file_over_defaults_in_a_real_run_and_the_key_stays_secret(tmp_path):
    """Every layer in one run: settings.toml holds what each layer decided, and no file holds the key.

    The LLM endpoint is the scripted server, which refuses any other key: the start-up probe
    passing shows the key from the environment reached it."""
    from tests.llm_server import ScriptedLLMServer, answer

    server = ScriptedLLMServer(default=answer("OK"), api_key=SECRET).start()
    config = tmp_path / "fairnad.toml"
    config.write_text("[search]\nbudget = 3\nseed = 5\nmin_rounds = 2\n[train]\nepochs = 4\nthreads = 2\n")
    env = {
        "FAIRNAD_SEARCH__BUDGET": "2",  # loses to --budget
        "FAIRNAD_SEARCH__MIN_ROUNDS": "3",  # beats the file
        "FAIRNAD_TRAIN__EPOCHS": "1",  # beats the file
        "FAIRNAD_TRAIN__TIME_LIMIT_S": "0.05",  # the seed fails at once: a short run
        "FAIRNAD_LLM__PROVIDER": "openai",
        "FAIRNAD_LLM__BASE_URL": server.base_url,
        "FAIRNAD_LLM__API_KEY": SECRET,
    }
    run_dir = tmp_path / "run"
    try:
        result = run_cli("run", "--run-dir", str(run_dir), "--config", str(config), "--budget", "1", "-q", env=env,
                         timeout=800)  # fmt: skip
    finally:
        server.stop()
    assert result.returncode in (0, 1), result.stdout + result.stderr  # finished, or stopped: the seed failed
    assert f"mutation: LLM gpt-4o-mini at {server.base_url}" in result.stderr and "budget 1" in result.stderr
    assert server.requests and all(r["headers"]["authorization"] == f"Bearer {SECRET}" for r in server.requests)
    saved = tomllib.loads((run_dir / "settings.toml").read_text())
    assert saved["search"]["budget"] == 1  # flag > environment > file
    assert saved["search"]["min_rounds"] == 3 and saved["train"]["epochs"] == 1  # environment > file
    assert saved["search"]["seed"] == 5 and saved["train"]["threads"] == 2  # file > defaults
    assert saved["train"]["momentum"] == 0.9 and saved["verify"]["max_params"] == 1_500_000  # defaults
    assert saved["llm"]["provider"] == "openai" and "api_key" not in saved["llm"]
    assert _files_holding(run_dir, SECRET.encode()) == []  # settings, trace, checkpoints, candidates
    assert SECRET not in result.stdout + result.stderr


# -- kind 13: trace filters ----------------------------------------------------------------------
def _rows(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_trace_role_filter_matches_the_role_or_tool_column(digits_run):
    for value in ("train", "TRAIN", "verifier"):
        result = run_cli("trace", str(digits_run), "--role", value)
        assert result.returncode == 0, result.stderr
        rows = _rows(result.stdout)
        assert rows and all(row[2] == value.lower() for row in rows), result.stdout
    as_json = run_cli("trace", str(digits_run), "--role", "train", "--json")
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    expected = [e for e in read_trace(digits_run) if (e.get("role") or e.get("tool")) == "train"]
    assert events == expected and len(events) >= 12  # a start and an end per trained candidate


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_trace_candidate_filter_accepts_unpadded_ids(digits_run):
    padded = run_cli("trace", str(digits_run), "--candidate", "0001")
    assert padded.returncode == 0 and padded.stdout.strip(), padded.stderr
    for value in ("1", "01", "001"):
        same = run_cli("trace", str(digits_run), "--candidate", value)
        assert same.returncode == 0 and same.stdout == padded.stdout, same.stderr
    assert all(row[3] == "0001" for row in _rows(padded.stdout))
    both = run_cli("trace", str(digits_run), "--candidate", "2", "--role", "train", "--json")
    assert both.returncode == 0 and {
        (e["candidate"], e["tool"]) for e in map(json.loads, both.stdout.splitlines())
    } == {("0002", "train")}


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--role", "trian"], ["--role trian", "did you mean --role train?", "extractor, feedback, mutation, train"]),
        (["--role", "critic"], ["--role critic", "Roles and tools in it:", "verifier"]),
        (["--candidate", "99"], ["--candidate 99", "candidate 0099", "Candidates in it: 0000-"]),
        (["--candidate", "seed"], ["--candidate seed", "Candidates in it: 0000-"]),
    ],
)
def test_trace_values_the_trace_never_holds_are_usage_errors_listing_the_valid_ones(digits_run, args, fragments):
    result = run_cli("trace", str(digits_run), *args)
    assert result.returncode == 2 and result.stdout == "", result.stdout + result.stderr
    assert result.stderr.startswith("error:") and len(result.stderr.strip().splitlines()) == 1
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_trace_values_that_exist_but_never_meet_exit_1(digits_run):
    result = run_cli("trace", str(digits_run), "--role", "extractor", "--candidate", "1")
    assert result.returncode == 1 and result.stdout == ""
    assert "extractor" in result.stderr and "0001" in result.stderr and "never together" in result.stderr


# -- kind 12: run state --------------------------------------------------------------------------
def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fairnad", *args], cwd=ROOT, env=cli_env(env),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for(proc: subprocess.Popen[str], ready) -> None:  # noqa: ANN001 - a predicate
    """Poll until ``ready()``; fails if the process ends first (the test's timeout guards a hang)."""
    while not ready():
        if proc.poll() is not None:
            pytest.fail(
                f"the process ended (exit {proc.returncode}) first: {proc.stderr.read() if proc.stderr else ''}"
            )
        time.sleep(0.2)


def _freeze(proc: subprocess.Popen[str]) -> None:
    """Stop the run where it is (SIGSTOP; it keeps its lock): on a fast machine it could otherwise
    finish, and free its lock, while the check that follows starts a whole CLI."""
    os.kill(proc.pid, signal.SIGSTOP)


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def _trained_starts(run_dir: Path) -> list[str]:
    if not (run_dir / "trace.jsonl").is_file():
        return []
    return [e["candidate"] for e in read_trace(run_dir) if e.get("tool") == "train" and e.get("phase") == "start"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_status_of_a_killed_run_says_interrupted_with_the_command_to_continue(tmp_path):
    run_dir = tmp_path / "run"
    proc = _start("run", "--run-dir", str(run_dir), "--budget", "2", "--epochs", "1", "-q")
    try:
        _wait_for(proc, lambda: (run_dir / "summary.json").is_file())
        _freeze(proc)
        alive = run_cli("status", str(run_dir))
        assert alive.returncode == 0 and f"running (pid {proc.pid})" in alive.stdout, alive.stdout + alive.stderr
    finally:
        _kill(proc)
    result = run_cli("status", str(run_dir))
    assert result.returncode == 0, result.stderr
    assert "interrupted" in result.stdout and "running" not in result.stdout
    assert f"fairnad resume {run_dir}" in result.stdout
    assert read_summary(run_dir)["status"] == "running"  # the file is left as the killed run wrote it


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_finished_run_is_extended_and_keeps_its_new_budget_across_a_kill(digits_run, tmp_path):
    run_dir = tmp_path / "digits"
    shutil.copytree(digits_run, run_dir)
    before = read_summary(run_dir)
    assert before["status"] == "finished" and before["counted"] == 6

    low = run_cli("resume", str(run_dir), "--budget", "5")
    assert low.returncode == 2 and low.stderr.startswith("error:"), low.stderr
    assert "--budget 5 is below" in low.stderr and "6 candidates counted" in low.stderr and "--budget 6" in low.stderr
    not_ignored = run_cli("run", "--resume", "--run-dir", str(run_dir), "--budget", "5")
    assert not_ignored.returncode == 2 and "--budget 5 is below" in not_ignored.stderr
    same = run_cli("resume", str(run_dir), "--budget", "6", "-q")
    assert same.returncode == 0 and "fairnad resume" in same.stderr and "--budget N (N > 6)" in same.stderr
    assert read_summary(run_dir) == before
    assert tomllib.loads((run_dir / "settings.toml").read_text())["search"]["budget"] == 6

    old_ids = {c["id"] for c in before["candidates"]}
    proc = _start("resume", str(run_dir), "--budget", "8", "-q")
    try:
        _wait_for(proc, lambda: any(cid not in old_ids for cid in _trained_starts(run_dir)))
        _freeze(proc)
        busy = run_cli("status", str(run_dir))
        assert f"running (pid {proc.pid})" in busy.stdout and "/8 counted" in busy.stdout, busy.stdout
    finally:
        _kill(proc)
    killed = run_cli("status", str(run_dir))
    assert "interrupted" in killed.stdout and "/8 counted" in killed.stdout, killed.stdout
    assert f"fairnad resume {run_dir}" in killed.stdout
    assert tomllib.loads((run_dir / "settings.toml").read_text())["search"]["budget"] == 8

    plain = run_cli("resume", str(run_dir), timeout=900)  # no --budget: the saved, extended one
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "8/8" in plain.stderr  # the progress bar shows the new budget
    after = read_summary(run_dir)
    assert after["status"] == "finished" and after["budget"] == 8 and after["counted"] == 8
    by_id = {c["id"]: c for c in after["candidates"]}
    for c in before["candidates"]:  # the search continued from its state: nothing redone or renumbered
        assert by_id[c["id"]] == c
    new = sorted(set(by_id) - old_ids)
    assert new and min(new) > max(old_ids)
    assert all(by_id[cid]["round"] > max(c["round"] for c in before["candidates"]) for cid in new)
    resumed = [e for e in read_trace(run_dir) if e["event"] == "run_resumed"]
    assert resumed[0]["budget"] == 8 and resumed[0]["previous_budget"] == 6
    assert resumed[-1]["budget"] == 8 and "previous_budget" not in resumed[-1]
    assert "finished, 8/8 counted" in run_cli("status", str(run_dir)).stdout


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_stopped_run_is_tried_again_only_when_asked_and_checks_come_first(tmp_path):
    run_dir = tmp_path / "run"
    quick_fail = {"FAIRNAD_TRAIN__TIME_LIMIT_S": "0.05"}  # the seed fails: nothing to mutate, the run stops
    first = run_cli("run", "--run-dir", str(run_dir), "--budget", "3", "-q", env=quick_fail, timeout=800)
    assert first.returncode == 1 and "the run stopped" in first.stderr, first.stdout + first.stderr
    assert f"fairnad resume {run_dir} --budget N (N > 1)" in first.stderr
    status = run_cli("status", str(run_dir))
    assert "stopped, 1/3 counted" in status.stdout and "fairnad resume" in status.stdout

    plain = run_cli("resume", str(run_dir), "-q")  # not asked to try again: the summary as it is
    assert plain.returncode == 1 and "the run stopped" in plain.stderr
    assert len([e for e in read_trace(run_dir) if e["event"] == "run_resumed"]) == 0

    changed = run_cli("resume", str(run_dir), "--budget", "4", env={"FAIRNAD_TRAIN__TIME_LIMIT_S": "600"})
    assert changed.returncode == 2 and "FAIRNAD_TRAIN__TIME_LIMIT_S" in changed.stderr, changed.stderr
    no_gpu = run_cli("resume", str(run_dir), "--budget", "4", "--device", "cuda", env={"CUDA_VISIBLE_DEVICES": ""})
    assert no_gpu.returncode == 2 and "train.device" in no_gpu.stderr and "--device cpu" in no_gpu.stderr
    nothing = run_cli("resume", str(run_dir), "--device", "cpu")
    assert nothing.returncode == 2 and "--device has nothing to act on" in nothing.stderr
    assert tomllib.loads((run_dir / "settings.toml").read_text())["search"]["budget"] == 3  # all refused
    assert read_summary(run_dir)["budget"] == 3

    again = run_cli("resume", str(run_dir), "--budget", "4", "-q", env=quick_fail)
    assert again.returncode == 1 and "the run stopped" in again.stderr  # tried, and the seed still cannot train
    assert read_summary(run_dir)["budget"] == 4
    assert tomllib.loads((run_dir / "settings.toml").read_text())["search"]["budget"] == 4
    resumed = [e for e in read_trace(run_dir) if e["event"] == "run_resumed"]
    assert len(resumed) == 1 and resumed[0]["previous_budget"] == 3 and resumed[0]["budget"] == 4


# -- in-process pieces of kinds 11-13 ------------------------------------------------------------
def _values(statuses: dict[str, str], budget: int, status: str) -> dict:
    from graph.state import new_record

    candidates = {}
    for cid, state in statuses.items():
        record = new_record(cid, parent=None, round=0, mutation_type="seed")
        record["status"] = state
        candidates[cid] = record
    return {"candidates": candidates, "budget": budget, "status": status}


def test_the_smallest_budget_counts_candidates_in_flight(tmp_path):
    from graph.runner import ResumeError, plan_resume
    from graph.settings import load_settings
    from graph.store import RunStore

    saved = load_settings(overrides={"search": {"budget": 6}}, env={})
    store = RunStore(tmp_path)
    mid_batch = _values({"0000": "trained", "0001": "rejected", "0002": "approved", "0003": "proposed"}, 6, "running")
    with pytest.raises(ResumeError, match=r"1 candidates counted and 2 in flight.*--budget 3 or more"):
        plan_resume(store, mid_batch, saved, budget=2, env={})
    plan = plan_resume(store, mid_batch, saved, budget=3, env={})  # lowered, still exact
    assert (plan.budget, plan.previous_budget, plan.counted, plan.in_flight, plan.continues) == (3, 6, 1, 2, True)
    assert plan.settings.search.budget == 3 and saved.search.budget == 6
    finished = _values({"0000": "trained", "0001": "failed"}, 2, "finished")
    assert plan_resume(store, finished, saved.model_copy(), budget=2, env={}).continues is False
    grown = plan_resume(store, finished, saved, budget=5, device="cpu", env={})
    assert grown.continues and grown.settings.train.device == "cpu" and grown.settings.search.budget == 5
    stopped = _values({"0000": "failed"}, 6, "stopped")
    assert plan_resume(store, stopped, saved, env={}).continues is False  # not asked to try again
    assert plan_resume(store, stopped, saved, budget=6, env={}).continues is True


def test_check_device_refuses_cuda_only_where_torch_sees_no_gpu():
    import torch

    from graph.runner import check_device
    from graph.settings import SettingsError

    check_device("cpu")
    check_device("auto")
    if torch.cuda.is_available():
        check_device("cuda")
    else:
        with pytest.raises(SettingsError, match="--device cpu"):
            check_device("cuda")


def test_a_new_run_folder_is_checked_without_being_created(tmp_path):
    from graph.store import RunStore

    store = RunStore(tmp_path / "a" / "b" / "run")
    store.check_new()
    assert not (tmp_path / "a").exists()
    assert store.lock_holder() is None
    store.lock()
    try:
        assert store.lock_holder() == os.getpid()
    finally:
        store.unlock()
    assert store.lock_holder() is None


def test_trace_helpers_normalise_ids_and_read_the_displayed_column(tmp_path):
    from graph.trace import TraceWriter, actor, candidate_id, read_trace, trace_values

    assert [candidate_id(v) for v in ("1", "01", "0001", " 12 ", "10000", "seed")] == [
        "0001", "0001", "0001", "0012", "10000", "seed",
    ]  # fmt: skip
    writer = TraceWriter(tmp_path / "trace.jsonl")
    writer.emit("role_step", role="verifier", candidate="0001", given="x", decided="approved")
    writer.emit("tool_call", candidate="0001", tool="train", phase="start")
    writer.emit("tool_call", candidate="0012", tool="train", phase="start")
    writer.emit("round_end", round=1)
    writer.close()
    path = tmp_path / "trace.jsonl"
    assert [actor(e) for e in read_trace(path)] == ["verifier", "train", "train", "-"]
    assert [e["candidate"] for e in read_trace(path, role="Train")] == ["0001", "0012"]
    assert [e["event"] for e in read_trace(path, candidate="1")] == ["role_step", "tool_call"]
    assert [e["event"] for e in read_trace(path, role="-")] == ["round_end"]  # the column shows '-'
    values = trace_values(path)
    assert values.actors == ["-", "train", "verifier"] and values.candidates == ["0001", "0012"]


def test_id_ranges_are_listed_compactly():
    from graph.cli.status import _id_ranges

    assert _id_ranges(["0000", "0001", "0002", "0005", "0007", "0008"]) == "0000-0002, 0005, 0007-0008"
    assert _id_ranges([]) == ""


# -- a standard output closed by its reader (fairnad trace RUN | head -1) -------------------------
def _with_closed_stdout(*args: str) -> subprocess.CompletedProcess[str]:
    """``fairnad ARGS`` writing to a pipe whose reader has already gone (the first write fails)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "fairnad", *args], cwd=ROOT, env=cli_env(),
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=240,
        )  # fmt: skip
    finally:
        os.close(write_end)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    "args",
    [
        ["status", "{run}"],
        ["trace", "{run}"],
        ["trace", "{run}", "--json"],
        ["trace", "{run}", "--role=-"],
        ["config", "show"],
        ["roles"],
        ["graph"],
        ["verify", "{run}/candidates/0000/model.py", "--input-shape", "3,16,16"],
        ["verify", "{run}/candidates/0000/model.py", "--input-shape", "3,16,16", "--json"],
        ["--version"],
        ["--help"],
        ["trace", "--help"],
    ],
    ids=lambda args: " ".join(a for a in args if "{run}" not in a),
)
def test_a_closed_stdout_stops_every_printing_command_quietly_with_141(digits_run, args):
    """128 + SIGPIPE, as a shell reports a program killed by a closed pipe: not 1 (work that
    failed, e.g. trace filters that never meet), and nothing on stderr (no traceback, no
    'Exception ignored' from the interpreter's last flush)."""
    result = _with_closed_stdout(*(arg.replace("{run}", str(digits_run)) for arg in args))
    assert (result.returncode, result.stderr) == (141, ""), result.stderr


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_trace_piped_into_head_stops_at_141_when_head_leaves(digits_run, tmp_path):
    """A trace far longer than the pipe holds: the reader takes one line and closes the pipe mid-stream."""
    run_dir = tmp_path / "run"
    shutil.copytree(digits_run, run_dir)
    lines = (run_dir / "trace.jsonl").read_text().splitlines(keepends=True)
    with open(run_dir / "trace.jsonl", "a") as trace:
        while trace.tell() < 4 * 1024 * 1024:
            trace.writelines(lines)
    for extra in ([], ["--json"]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "fairnad", "trace", str(run_dir), *extra], cwd=ROOT, env=cli_env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stdout.readline()
        proc.stdout.close()  # as head -1 does
        _, stderr = proc.communicate(timeout=240)
        assert (proc.returncode, stderr) == (141, b""), stderr
