"""Settings: defaults, environment, overrides, and errors that name the key and value."""

from pathlib import Path

import pytest

from infosynth_core import ConfigError, Settings
from infosynth_core.config import validated


def test_settings_defaults():
    s = Settings()
    assert s.db_path == Path("data/infosynth.db")
    assert s.max_import_bytes == 50 * 1024 * 1024


def test_settings_from_env_then_overrides():
    env = {"INFOSYNTH_DB": "/tmp/x.db", "INFOSYNTH_MAX_IMPORT_MB": "2.5", "UNRELATED": "1"}
    s = Settings.from_env(env)
    assert s.db_path == Path("/tmp/x.db") and s.max_import_mb == 2.5
    s = Settings.from_env(env, db_path="/tmp/y.db", max_import_mb=None)
    assert s.db_path == Path("/tmp/y.db") and s.max_import_mb == 2.5


def test_settings_errors_name_key_and_value():
    with pytest.raises(ConfigError, match=r"'max_import_mb' = '-1'"):
        Settings.from_env({"INFOSYNTH_MAX_IMPORT_MB": "-1"})
    with pytest.raises(ConfigError, match=r"unknown key 'db' \(allowed: db_path"):
        validated(Settings, {"db": "x"}, what="settings")


def test_run_config_examples_in_data_configs_are_valid():
    from infosynth_core.config import load_run_config

    files = sorted((Path(__file__).parent.parent / "data" / "configs").glob("*.toml"))
    assert len(files) >= 2
    engines = {load_run_config(f).engine for f in files}
    assert engines == {"offline", "llm"}


@pytest.mark.parametrize(
    "suffix,text",
    [
        (".toml", "generations = 2\n[llm]\nmodel = 'm'\nbudget_usd = 3\n"),
        (".yaml", "generations: 2\nllm:\n  model: m\n  budget_usd: 3\n"),
        (".json", '{"generations": 2, "llm": {"model": "m", "budget_usd": 3}}'),
    ],
)
def test_run_config_reads_toml_yaml_json_and_names_the_bad_key(tmp_path, suffix, text):
    from infosynth_core.config import load_run_config

    path = tmp_path / f"run{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="budget_usd needs a price table"):
        load_run_config(path)
    path.write_text(text.replace("budget_usd", "budget_tokens"), encoding="utf-8")
    cfg = load_run_config(path, {"colonies": 4, "llm": {"concurrency": 3}})
    assert (cfg.generations, cfg.colonies, cfg.llm.concurrency, cfg.llm.budget_tokens) == (
        2,
        4,
        3,
        3,
    )
    with pytest.raises(ConfigError, match=r"unknown key 'llm.modle' \(allowed: base_url, model"):
        load_run_config(path, {"llm": {"modle": "x"}})
