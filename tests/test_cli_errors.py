"""Bad input, tried as a new user would: one clear error each, non-zero exit, no traceback."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.timeout(300)


def assert_clean_error(result, *fragments: str) -> None:
    text = result.stderr
    assert result.returncode != 0, result.stdout + text
    assert "Traceback" not in text and "Traceback" not in result.stdout, text
    assert text.lower().startswith("error:"), text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"


def test_unknown_dataset(tmp_path):
    result = run_cli("run", "--run-dir", str(tmp_path / "r"), "--dataset", "mnist")
    assert_clean_error(result, "data.dataset", "'digits', 'cifar10' or 'cifar100'")
    assert not (tmp_path / "r").exists()


def test_missing_data_folder(tmp_path):
    result = run_cli(
        "run", "--run-dir", str(tmp_path / "r"), "--dataset", "cifar10", "--data-dir", str(tmp_path / "cifar")
    )
    assert_clean_error(result, "does not exist", "cifar-10-batches-py")
    result = run_cli("run", "--run-dir", str(tmp_path / "r"), "--dataset", "cifar100")
    assert_clean_error(result, "needs --data-dir")


def test_bad_config_value_in_the_file(tmp_path):
    config = tmp_path / "fairnad.toml"
    config.write_text('[train]\ndevice = "tpu"\n')
    result = run_cli("run", "--run-dir", str(tmp_path / "r"), "--config", str(config), "--device", "cpu")
    assert_clean_error(result, "train.device", str(config))
    config.write_text("[search]\nbudgett = 3\n")
    result = run_cli("config", "show", "--config", str(config))
    assert_clean_error(result, "search.budgett", "did you mean 'budget'")


@pytest.mark.parametrize("budget", ["0", "-3"])
def test_budget_zero_or_negative(tmp_path, budget):
    result = run_cli("run", "--run-dir", str(tmp_path / "r"), "--budget", budget)
    assert_clean_error(result, "search.budget", "greater than or equal to 1")


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0 and not shutil.which("setpriv"), reason="root needs setpriv"
)
def test_unwritable_run_dir(tmp_path):
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="fairnad-test-"))
    base.chmod(0o755)
    locked = base / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    args = ["run", "--run-dir", str(locked / "r"), "--budget", "1"]
    if os.geteuid() == 0:  # root ignores permissions: drop to nobody for this one call
        import subprocess

        from tests.conftest import ROOT, cli_env

        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "fairnad", *args],
            cwd=ROOT, env={**cli_env(), "HOME": str(tmp_path)}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    else:
        result = run_cli(*args)
    shutil.rmtree(base, ignore_errors=True)
    assert_clean_error(result, "cannot write to run directory")


def test_run_dir_from_another_run_or_not_empty(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "run.json").write_text('{"run_id": "run-x"}')
    assert_clean_error(run_cli("run", "--run-dir", str(other)), "already holds", "fairnad resume")
    stuff = tmp_path / "stuff"
    stuff.mkdir()
    (stuff / "notes.txt").write_text("mine")
    assert_clean_error(run_cli("run", "--run-dir", str(stuff), "--budget", "1"), "not empty")


def test_resume_of_a_folder_that_never_held_a_run(tmp_path):
    assert_clean_error(run_cli("resume", str(tmp_path)), "holds no FairNAD run")
    assert_clean_error(run_cli("status", str(tmp_path)), "holds no FairNAD run")
    assert_clean_error(run_cli("trace", str(tmp_path / "nope")), "holds no FairNAD run")


def test_verify_of_a_missing_file(tmp_path):
    assert_clean_error(run_cli("verify", str(tmp_path / "model.py")), "does not exist")


def test_unknown_role_in_config(tmp_path):
    config = tmp_path / "fairnad.toml"
    config.write_text('[roles]\ngates = ["critik", "verifier"]\n')
    assert_clean_error(
        run_cli("run", "--run-dir", str(tmp_path / "r"), "--config", str(config)), "unknown role 'critik'"
    )
    assert not (tmp_path / "r").exists()


def test_shadowed_package_is_detected(tmp_path):
    fake = tmp_path / "shadow" / "agents"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("# somebody else's 'agents' package\n")
    result = run_cli("roles", pythonpath=[tmp_path / "shadow"], cwd=tmp_path)
    assert result.returncode == 2
    assert "'agents' resolves to" in result.stderr and "not FairNAD's package" in result.stderr


def test_config_init_refuses_to_overwrite(tmp_path):
    path = tmp_path / "fairnad.toml"
    assert run_cli("config", "init", str(path)).returncode == 0
    assert "[search]" in path.read_text()
    assert_clean_error(run_cli("config", "init", str(path)), "--force")


def test_the_test_environment_blocks_the_network(tmp_path):
    import socket

    with pytest.raises(Exception, match="(?i)socket"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    script = tmp_path / "probe.py"
    script.write_text("import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=1)\n")
    import subprocess

    from tests.conftest import cli_env

    result = subprocess.run([sys.executable, str(script)], env=cli_env(), capture_output=True, text=True, timeout=60)
    assert "never use the network" in result.stderr


def test_help_and_version_start():
    assert run_cli("--help").returncode == 0
    assert run_cli("--version").stdout.startswith("fairnad ")
    assert Path(sys.executable).exists()
