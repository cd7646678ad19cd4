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


def test_a_secret_under_a_section_in_another_case_is_refused(tmp_path):
    config = tmp_path / "key.toml"
    config.write_text('[LLM]\napi_key = "sk-in-file-0123"\n')
    result = run_cli("config", "show", "--config", str(config))
    assert result.returncode == 2 and result.stdout == "", result.stdout
    assert_clean_error(result, str(config), "unknown section [LLM]", "did you mean [llm]?")
    assert len(result.stderr.strip().splitlines()) == 1 and "sk-in-file" not in result.stderr


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


# -- usage errors: one line, exit 2, the closest real name (issue 8, kind 10) ------------------
def assert_usage_error(result, *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert_clean_error(result, *fragments)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["status"], ["fairnad status", "missing argument", "RUN_DIR"]),
        (["trace"], ["fairnad trace", "missing argument", "RUN_DIR"]),
        (["resume"], ["fairnad resume", "missing argument", "RUN_DIR"]),
        (["verify"], ["fairnad verify", "missing argument", "FILE"]),
        (["run", "--bugdet", "3"], ["no such option --bugdet", "did you mean --budget?"]),
        (["run", "--budget", "abc"], ["fairnad run", "--budget", "'abc'"]),
        (["run", "--budget=abc"], ["fairnad run", "--budget", "'abc'"]),
        (["run", "--budget"], ["fairnad run", "'--budget' requires an argument"]),
        (["run", "--epochs", "2.5"], ["fairnad run", "--epochs", "'2.5'"]),
        (["run", "--dataset", "cifar-10"], ["--dataset", "'digits', 'cifar10' or 'cifar100'"]),
        (["stauts", "runs/x"], ["no such command 'stauts'", "did you mean 'fairnad status'?"]),
        (["verfy", "m.py"], ["no such command 'verfy'", "did you mean 'fairnad verify'?"]),
        (["xyzzy"], ["no such command 'xyzzy'", "Commands: run, resume"]),
        (["--bogus"], ["fairnad: no such option --bogus", "--version"]),
        (["config", "shw"], ["no such command 'shw'", "did you mean 'fairnad config show'?"]),
        (["config", "show", "--confg", "x.toml"], ["fairnad config show", "did you mean --config?"]),
        (["config", "show", "-c"], ["fairnad config show", "'-c' requires an argument"]),
        (["config", "init", "a.toml", "b.toml"], ["fairnad config init", "unexpected extra argument"]),
        (["config", "init", "--forse"], ["fairnad config init", "did you mean --force?"]),
        (["trace", "runs/x", "--rol", "train"], ["fairnad trace", "did you mean --role?"]),
        (["trace", "runs/x", "--jsn"], ["fairnad trace", "did you mean --json?"]),
        (["status", "runs/a", "runs/b"], ["fairnad status", "unexpected extra argument"]),
        (["resume", "runs/x", "--budjet", "5"], ["fairnad resume", "did you mean --budget?"]),
        (["resume", "runs/x", "--budget", "many"], ["fairnad resume", "--budget", "'many'"]),
        (["roles", "--confi", "x.toml"], ["fairnad roles", "did you mean --config?"]),
        (["graph", "--config"], ["fairnad graph", "'--config' requires an argument"]),
        (["verify", "m.py", "--num-classes", "0"], ["fairnad verify", "--num-classes", "'0'"]),
        (["verify", "m.py", "--input-shap", "3,8,8"], ["fairnad verify", "did you mean --input-shape?"]),
        (["verify", "m.py", "--timeout", "soon"], ["fairnad verify", "--timeout", "'soon'"]),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args, fragments, tmp_path):
    assert_usage_error(run_cli(*args, cwd=tmp_path), *fragments)


def test_no_command_prints_the_help_and_exits_2(tmp_path):
    for args in ([], ["config"]):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2 and "Usage: fairnad" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--resume", "--epochs", "3"], ["--epochs cannot act on a resumed run", "settings.toml"]),
        (["--resume", "--dataset", "cifar10", "--seed", "2"], ["--dataset, --seed cannot act on a resumed run"]),
        (["--resume"], []),  # nothing to resume in a folder with no run
    ],
)
def test_run_resume_refuses_flags_it_cannot_apply(tmp_path, args, fragments):
    result = run_cli("run", "--run-dir", str(tmp_path / "r"), *args, cwd=tmp_path)
    assert_usage_error(result, *(fragments or ["holds no run"]))
    assert not (tmp_path / "r").exists()


# -- checks before the run folder exists (issue 8, kind 11) ------------------------------------
@pytest.mark.parametrize(
    ("args", "env", "fragments"),
    [
        (
            ["--device", "cuda"],
            {"CUDA_VISIBLE_DEVICES": ""},
            ["train.device", "'cuda'", "--device auto", "--device cpu"],
        ),
        ([], {"CUDA_VISIBLE_DEVICES": "", "FAIRNAD_TRAIN__DEVICE": "cuda"}, ["train.device", "'cuda'", "--device cpu"]),
        (["--device", "cuda:0"], {}, ["--device", "'auto', 'cpu' or 'cuda'"]),
        (["--device", "GPU"], {}, ["--device", "'auto', 'cpu' or 'cuda'"]),
    ],
)
def test_device_is_checked_before_the_run_folder_exists(tmp_path, args, env, fragments):
    result = run_cli("run", "--run-dir", str(tmp_path / "r"), "--budget", "1", *args, env=env, cwd=tmp_path)
    assert_usage_error(result, *fragments)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("toml", "fragments"),
    [
        ('[knowledge]\ntemplate = "no-such-template.yaml"\n', ["no-such-template.yaml", "does not exist"]),
        ('[knowledge]\nideas = ["missing-ideas.yaml"]\n', ["missing-ideas.yaml", "does not exist"]),
        ('[search]\nseed_model = "resnet18"\n', ["search.seed_model", "resnet32"]),
        ('[roles]\ngates = ["train"]\n', ["train"]),
        ("[train]\nthreads = 100000\n", ["train.threads", "100000", "CPU core", "use 0 (all cores)"]),
        ('[knowledge]\nembedding_model = "no-such-model-folder/"\n', ["no-such-model-folder", "does not exist"]),
        ('[knowledge]\nembedding_model = "."\n', ["holds no model", "modules.json"]),
        (
            '[knowledge]\nembedding_model = "org-none/model-none"\n',
            ["'org-none/model-none'", "not in the Hugging Face cache", "bundled"],
        ),
    ],
)
def test_settings_roles_and_knowledge_are_checked_before_the_run_folder_exists(tmp_path, toml, fragments):
    config = tmp_path / "fairnad.toml"
    config.write_text(toml)
    result = run_cli("run", "--run-dir", str(tmp_path / "r"), "--config", str(config), cwd=tmp_path)
    assert_usage_error(result, *fragments)
    assert not (tmp_path / "r").exists()


def test_data_dir_with_the_bundled_dataset_is_an_error_not_ignored(tmp_path):
    result = run_cli("run", "--dataset", "digits", "--data-dir", str(tmp_path), "--budget", "1",
                     "--run-dir", str(tmp_path / "r"), cwd=tmp_path)  # fmt: skip
    assert_usage_error(result, "--data-dir cannot act", "digits", "--dataset cifar10")
    assert not (tmp_path / "r").exists()
    default = run_cli("run", "--data-dir", str(tmp_path), "--budget", "1", "--run-dir", str(tmp_path / "r2"),
                      cwd=tmp_path)  # fmt: skip  # digits is the default dataset
    assert_usage_error(default, "--data-dir cannot act")
    assert not (tmp_path / "r2").exists()
