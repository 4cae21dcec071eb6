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
