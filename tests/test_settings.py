"""Settings: layers, per-layer validation, clear errors, the generated example file."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from graph.settings import (
    FairNADSettings,
    SettingsError,
    absolute_paths,
    example_toml,
    load_settings,
    resumed_settings,
    secret_keys,
    to_toml_data,
    toml_text,
)

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


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('[LLM]\napi_key = "sk-in-file-0123"\n', ["unknown section [LLM]", "did you mean [llm]?"]),
        ('[Llm]\napi_key = "sk-in-file-0123"\n', ["unknown section [Llm]", "did you mean [llm]?"]),
        ('[llm]\nAPI_KEY = "sk-in-file-0123"\n', ["unknown key 'llm.API_KEY'", "did you mean 'api_key'?"]),
        ('LLM = {api_key = "sk-in-file-0123"}\n', ["unknown section [LLM]", "did you mean [llm]?"]),
        ("[train]\nepochs = 3\n[TRAIN]\nbatch_size = 32\n", ["unknown section [TRAIN]", "did you mean [train]?"]),
        ("[train]\nepochs = 3\n[TRAIN]\nepochs = 5\n", ["unknown section [TRAIN]", "did you mean [train]?"]),
        ("[train]\nEPOCHS = 3\n", ["unknown key 'train.EPOCHS'", "did you mean 'epochs'?"]),
        (
            "[search.MUTATION_MIX]\nfair_idea = 3\n",
            ["unknown section [search.MUTATION_MIX]", "did you mean [search.mutation_mix]?"],
        ),
        ("[search.mutation_mix]\nFair_Idea = 3\n", ["search.mutation_mix.Fair_Idea", "did you mean 'fair_idea'?"]),
    ],
)
def test_section_and_key_names_in_a_file_match_exactly(tmp_path, text, fragments):
    """TOML keys are case-sensitive: a section or key spelled in another case is unknown, never
    folded onto the real one (so [LLM] cannot slip a secret past the file's checks, and
    [train] + [TRAIN] cannot silently drop one of them)."""
    cfg = write(tmp_path, text)
    with pytest.raises(SettingsError) as err:
        load_settings(cfg, env={})
    message = str(err.value)
    assert str(cfg) in message and "sk-in-file" not in message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("budget = 3\n", ["unknown key 'budget' at the top of", "did you mean 'budget' under [search]?"]),
        ("EPOCHS = 3\n", ["unknown key 'EPOCHS' at the top of", "did you mean 'epochs' under [train]?"]),
        ('api_key = "sk-in-file-0123"\n', ["it is a secret: set the environment variable FAIRNAD_LLM__API_KEY"]),
        ("trian = 3\n", ["unknown key 'trian' at the top of", "did you mean [train]?"]),
        ("foo = 3\n", ["unknown key 'foo' at the top of", ". Keys go under a section: search, train"]),
    ],
)
def test_a_key_outside_any_section_names_the_section_that_has_it(tmp_path, text, fragments):
    cfg = write(tmp_path, text)
    with pytest.raises(SettingsError) as err:
        load_settings(cfg, env={})
    message = str(err.value)
    assert str(cfg) in message and "sk-in-file" not in message and "under [llm]" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_environment_names_stay_case_insensitive_when_the_file_is_exact(tmp_path):
    cfg = write(tmp_path, "[train]\nepochs = 3\n")
    s = load_settings(cfg, env={"fairnad_train__Batch_Size": "32", "FAIRNAD_llm__API_key": "sk-env-0123456789"})
    assert (s.train.epochs, s.train.batch_size) == (3, 32)
    assert s.llm.api_key is not None and s.llm.api_key.get_secret_value() == "sk-env-0123456789"


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


# -- the environment layer (issue 8, kind 9) ---------------------------------------------------
def test_environment_variables_reach_the_settings_and_os_environ_is_left_alone(monkeypatch):
    monkeypatch.setenv("FAIRNAD_TRAIN__TIME_LIMIT_S", "2")
    monkeypatch.setenv("FAIRNAD_SEARCH__BUDGET", "5")
    monkeypatch.setenv("FAIRNAD_LLM__API_KEY", "sk-test-0123456789")
    before = dict(os.environ)
    s = load_settings()  # reads os.environ itself
    assert (s.train.time_limit_s, s.search.budget) == (2.0, 5)
    assert s.llm.api_key is not None and s.llm.api_key.get_secret_value() == "sk-test-0123456789"
    assert dict(os.environ) == before


def test_nested_keys_lists_and_case_insensitive_names():
    s = load_settings(
        env={
            "FAIRNAD_SEARCH__MUTATION_MIX__FAIR_IDEA": "3",
            "fairnad_search__mutation_mix__pareto": "1",
            "Fairnad_Roles__Gates": '["critic", "verifier"]',
            "FAIRNAD_KNOWLEDGE__IDEAS": '["a.yaml", "b.yaml"]',
            "FAIRNAD_VERIFY__MAX_PARAMS": "1.2M",
        }
    )
    assert (s.search.mutation_mix.fair_idea, s.search.mutation_mix.pareto, s.search.mutation_mix.iterative) == (3, 1, 4)
    assert s.roles.gates == ["critic", "verifier"]
    assert s.knowledge.ideas == [Path("a.yaml"), Path("b.yaml")]
    assert s.verify.max_params == 1_200_000


def test_a_whole_table_as_json_and_empty_or_null_values():
    s = load_settings(
        env={"FAIRNAD_SEARCH__MUTATION_MIX": '{"fair_idea": 2, "pareto": 0}', "FAIRNAD_TRAIN__DEVICE": ""}
    )
    assert (s.search.mutation_mix.fair_idea, s.search.mutation_mix.pareto) == (2, 0)
    assert s.train.device == "auto"  # an empty variable counts as unset
    cfg_env = {"FAIRNAD_TRAIN__EPOCHS": "null"}
    assert load_settings(env=cfg_env).train.epochs is None


@pytest.mark.parametrize(
    ("name", "value", "fragments"),
    [
        ("FAIRNAD_TRAIN__THREADS", "notanumber", ["train.threads", "FAIRNAD_TRAIN__THREADS", "'notanumber'"]),
        ("FAIRNAD_TRAIN__DEVICE", "gpu", ["FAIRNAD_TRAIN__DEVICE", "'auto', 'cpu' or 'cuda'"]),
        ("FAIRNAD_SEARCH__BUDGET", "0", ["FAIRNAD_SEARCH__BUDGET", "greater than or equal to 1"]),
        ("FAIRNAD_SEARCH__MUTATION_MIX__PARETO", "-1", ["FAIRNAD_SEARCH__MUTATION_MIX__PARETO"]),
        ("FAIRNAD_ROLES__GATES", "critic", ["FAIRNAD_ROLES__GATES", "not JSON", '["first", "second"]']),
        ("FAIRNAD_ROLES__GATES", "[]", ["FAIRNAD_ROLES__GATES", "at least 1 item"]),
        ("FAIRNAD_SEARCH__MUTATION_MIX", "{fair_idea: 1}", ["FAIRNAD_SEARCH__MUTATION_MIX", "not JSON", "fair_idea"]),
    ],
)
def test_bad_values_from_the_environment_name_the_variable(name, value, fragments):
    with pytest.raises(SettingsError) as err:
        load_settings(env={name: value})
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("FAIRNAD_SEARCH__BUGDET", "did you mean FAIRNAD_SEARCH__BUDGET?"),
        ("FAIRNAD_TRAIN__EPOCH", "did you mean FAIRNAD_TRAIN__EPOCHS?"),
        ("FAIRNAD_SEARCH__MUTATION_MIX__FAIR_IDAE", "did you mean FAIRNAD_SEARCH__MUTATION_MIX__FAIR_IDEA?"),
        ("FAIRNAD_SEARCH__MUTATION_MIX_FAIR_IDEA", "did you mean FAIRNAD_SEARCH__MUTATION_MIX__FAIR_IDEA?"),
        ("FAIRNAD_TRIAN__THREADS", "did you mean FAIRNAD_TRAIN__THREADS?"),
        ("FAIRNAD_TRAIN_THREADS", "did you mean FAIRNAD_TRAIN__THREADS?"),
    ],
)
def test_unknown_keys_from_the_environment_say_what_was_meant(name, hint):
    with pytest.raises(SettingsError) as err:
        load_settings(env={name: "1"})
    assert name in str(err.value) and hint in str(err.value), str(err.value)


def test_the_same_key_twice_and_other_fairnad_variables():
    with pytest.raises(SettingsError, match="both set search.budget"):
        load_settings(env={"FAIRNAD_SEARCH__BUDGET": "3", "fairnad_search__budget": "4"})
    s = load_settings(env={"FAIRNAD_FORKSERVER": "0", "FAIRNAD_UPDATE_SNAPSHOTS": "1"})
    assert s == FairNADSettings()


def test_flag_errors_name_the_flag():
    with pytest.raises(SettingsError) as err:
        load_settings(overrides={"train": {"device": "tpu"}}, env={}, flags={("train", "device"): "--device"})
    assert "command-line option --device" in str(err.value)


def test_secrets_are_found_from_the_model_and_never_written():
    assert ("llm", "api_key") in secret_keys()
    s = load_settings(env={"FAIRNAD_LLM__API_KEY": "sk-secret-0123456789", "FAIRNAD_LLM__PROVIDER": "openai"})
    data = to_toml_data(s)
    assert data["llm"]["provider"] == "openai" and "api_key" not in data["llm"]
    assert "sk-secret" not in repr(data)


def test_a_resumed_run_takes_secrets_from_the_environment_and_refuses_other_changes(tmp_path):
    saved = load_settings(overrides={"train": {"device": "cpu"}}, env={})
    path = tmp_path / "settings.toml"
    same = resumed_settings(saved, path, env={"FAIRNAD_TRAIN__DEVICE": "cpu", "FAIRNAD_LLM__API_KEY": "sk-abcdefgh12"})
    assert same.train.device == "cpu" and same.llm.api_key.get_secret_value() == "sk-abcdefgh12"
    assert saved.llm.api_key is None  # the saved settings are not changed in place
    with pytest.raises(SettingsError) as err:
        resumed_settings(saved, path, env={"FAIRNAD_TRAIN__DEVICE": "auto", "FAIRNAD_SEARCH__SEED": "3"})
    text = str(err.value)
    assert "FAIRNAD_TRAIN__DEVICE" in text and "FAIRNAD_SEARCH__SEED" in text and str(path) in text
    flagged = resumed_settings(saved, path, env={"FAIRNAD_TRAIN__DEVICE": "auto"}, overridden={("train", "device")})
    assert flagged.train.device == "cpu"  # the flag decides; the runner applies it


def test_settings_text_is_toml_with_one_line_per_setting():
    s = load_settings(
        env={"FAIRNAD_ROLES__GATES": '["critic", "verifier"]', "FAIRNAD_KNOWLEDGE__IDEAS": '["a b.yaml"]'}
    )
    data = to_toml_data(s)
    text = toml_text(data)
    assert tomllib.loads(text) == data
    keys = [line for line in text.splitlines() if line and not line.startswith("[")]
    assert all(" = " in line for line in keys) and 'gates = ["critic", "verifier"]' in keys


@pytest.mark.parametrize(
    ("key", "value"),
    [("FAIRNAD_LLM__TEMPERATURE", "nan"), ("FAIRNAD_TRAIN__LR", "inf"), ("FAIRNAD_SEARCH__SCALE_UP_BELOW", "-inf")],
)
def test_numbers_that_are_not_finite_are_refused_as_such(key, value):
    with pytest.raises(SettingsError, match=f"{key}: Input should be a finite number"):
        load_settings(env={key: value})


def test_a_new_run_saves_every_path_absolute(tmp_path, monkeypatch):
    """A run's saved settings must name the same files from any folder ``fairnad resume`` is typed in."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "models" / "mini").mkdir(parents=True)
    relative = {
        "data": {"dataset": "cifar10", "data_dir": "data/c10"},
        "knowledge": {
            "template": "~/t.yaml",
            "ideas": ["ideas/a.yaml", "/abs/b.yaml"],
            "store_dir": "store",
            "embedding_model": "models/mini",
        },
    }
    s = absolute_paths(load_settings(overrides=relative, env={}))
    assert s.data.data_dir == tmp_path / "data" / "c10"
    assert s.knowledge.template == tmp_path / "home" / "t.yaml"
    assert s.knowledge.ideas == [tmp_path / "ideas" / "a.yaml", Path("/abs/b.yaml")]
    assert s.knowledge.store_dir == tmp_path / "store"
    assert s.knowledge.embedding_model == str(tmp_path / "models" / "mini")
    assert s.search == FairNADSettings().search  # nothing else changes
    for name in ("bundled", "sentence-transformers/all-MiniLM-L6-v2"):  # names, not folders, stay as written
        named = load_settings(overrides={"knowledge": {"embedding_model": name}}, env={})
        assert absolute_paths(named).knowledge.embedding_model == name
    assert absolute_paths(FairNADSettings()) == FairNADSettings()  # unset paths stay unset
