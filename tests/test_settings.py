"""Settings: layers, per-layer validation, clear errors, the generated example file."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.settings import FairNADSettings, SettingsError, example_toml, load_settings

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fairnad.toml"
    path.write_text(text)
    return path


def test_defaults_are_the_embedded_offline_setup():
    s = load_settings(env={})
    assert s.data.dataset == "digits"
    assert s.llm.provider == "none"
    assert s.train.device == "auto"
    assert s.verify.max_params == 1_500_000
    assert s.verify.flops_budget((3, 32, 32)) == 200_000_000
    assert s.verify.flops_budget((3, 16, 16)) == 50_000_000
    assert s.roles.gates == ["verifier"]


def test_precedence_flags_over_env_over_file(tmp_path):
    cfg = write(tmp_path, "[search]\nbudget = 30\nseed = 5\n[train]\nepochs = 3\n")
    env = {"FAIRNAD_SEARCH__BUDGET": "40", "FAIRNAD_TRAIN__DEVICE": "cpu"}
    s = load_settings(cfg, {"search": {"budget": 50}}, env=env)
    assert s.search.budget == 50  # flag wins
    assert s.train.device == "cpu"  # env
    assert s.search.seed == 5 and s.train.epochs == 3  # file
    s = load_settings(cfg, env=env)
    assert s.search.budget == 40


def test_config_file_from_environment_variable(tmp_path):
    cfg = write(tmp_path, "[search]\nbudget = 7\n")
    assert load_settings(env={"FAIRNAD_CONFIG": str(cfg)}).search.budget == 7


def test_bad_value_in_file_is_an_error_even_when_a_flag_overrides_it(tmp_path):
    cfg = write(tmp_path, '[train]\ndevice = "gpu"\n')
    with pytest.raises(SettingsError) as err:
        load_settings(cfg, {"train": {"device": "cpu"}}, env={})
    text = str(err.value)
    assert "train.device" in text and str(cfg) in text
    assert "'auto', 'cpu' or 'cuda'" in text


def test_unknown_key_names_the_key_and_the_valid_ones(tmp_path):
    cfg = write(tmp_path, "[train]\nepoch = 3\n")
    with pytest.raises(SettingsError) as err:
        load_settings(cfg, env={})
    text = str(err.value)
    assert "train.epoch" in text and "did you mean 'epochs'" in text and "batch_size" in text


def test_unknown_section_and_bad_env_values_are_errors():
    with pytest.raises(SettingsError, match="FAIRNAD_SERCH__BUDGET"):
        load_settings(env={"FAIRNAD_SERCH__BUDGET": "3"})
    with pytest.raises(SettingsError, match="search.budget"):
        load_settings(env={"FAIRNAD_SEARCH__BUDGET": "many"})
    with pytest.raises(SettingsError, match="greater than or equal to 1"):
        load_settings(overrides={"search": {"budget": 0}}, env={})


def test_counts_accept_human_units(tmp_path):
    cfg = write(tmp_path, '[verify]\nmax_params = "1.2M"\nmax_flops = "0.1G"\n')
    s = load_settings(cfg, env={})
    assert s.verify.max_params == 1_200_000 and s.verify.max_flops == 100_000_000
    with pytest.raises(SettingsError, match="verify.max_params"):
        load_settings(write(tmp_path, '[verify]\nmax_params = "lots"\n'), env={})


def test_missing_or_malformed_config_file(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", env={})
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(write(tmp_path, "[search\nbudget = 1"), env={})


def test_example_file_is_generated_and_loads_back(tmp_path):
    text = example_toml()
    committed = (ROOT / "fairnad.example.toml").read_text()
    assert committed == text, "fairnad.example.toml is stale: run 'fairnad config init fairnad.example.toml --force'"
    s = load_settings(write(tmp_path, text), env={})
    assert s == FairNADSettings()
