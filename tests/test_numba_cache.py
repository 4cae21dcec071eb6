"""NUMBA_CACHE_DIR: set to a private per-user directory when unset, never overriding the
user's own setting, and silently left alone when the directory cannot be made."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from infosynth_core import numba_cache


def test_sets_a_private_writable_dir_under_xdg_cache_home(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    got = numba_cache.configure(env)
    assert got == env["NUMBA_CACHE_DIR"] == str(tmp_path / "cache" / "infosynth" / "numba")
    assert os.path.isdir(got) and os.access(got, os.W_OK)
    assert stat.S_IMODE(os.stat(got).st_mode) == 0o700


def test_falls_back_to_home_cache_when_xdg_is_unset_or_relative(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for env in ({}, {"XDG_CACHE_HOME": "relative/dir"}):
        assert numba_cache.configure(env) == str(tmp_path / ".cache" / "infosynth" / "numba")


def test_an_existing_dir_is_made_private(tmp_path):
    target = tmp_path / "infosynth" / "numba"
    target.mkdir(parents=True, mode=0o777)
    target.chmod(0o777)
    assert numba_cache.configure({"XDG_CACHE_HOME": str(tmp_path)}) == str(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700


def test_leaves_the_users_own_setting_alone(tmp_path):
    env = {"NUMBA_CACHE_DIR": "/somewhere/of/my/own", "XDG_CACHE_HOME": str(tmp_path)}
    assert numba_cache.configure(env) == "/somewhere/of/my/own"
    assert env["NUMBA_CACHE_DIR"] == "/somewhere/of/my/own"
    assert not (tmp_path / "infosynth").exists()


def test_no_crash_and_nothing_set_when_the_dir_cannot_be_made(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory would go")
    env = {"XDG_CACHE_HOME": str(blocker)}
    assert numba_cache.configure(env) is None
    assert "NUMBA_CACHE_DIR" not in env


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only directory")
def test_no_crash_when_the_parent_is_read_only(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        env = {"XDG_CACHE_HOME": str(ro)}
        assert numba_cache.configure(env) is None
        assert "NUMBA_CACHE_DIR" not in env
    finally:
        ro.chmod(0o700)


def test_no_crash_without_a_home_directory(monkeypatch):
    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(numba_cache.Path, "home", staticmethod(no_home))
    env: dict[str, str] = {}
    assert numba_cache.configure(env) is None and env == {}


def test_importing_the_package_sets_it_before_numba_loads(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    code = (
        "import sys, os, infosynth_core; "
        "assert 'numba' not in sys.modules; "
        "import numba; print(numba.config.CACHE_DIR)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str(tmp_path / "infosynth" / "numba")
