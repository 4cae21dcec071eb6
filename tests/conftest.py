"""Shared fixtures: temporary stores, the reference datasets, a running dashboard server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "infosynth.db"


@pytest.fixture
def store(db_path: Path):
    from infosynth_core import Store

    s = Store(db_path)
    yield s
    s.close()


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    if not (DATASETS / "mbpp.jsonl").is_file():
        pytest.skip(f"reference datasets not found at {DATASETS} (optional; see README)")
    return DATASETS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, poll: float = 0.2):
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def passed_problems(store, run_id: str) -> dict[str, str]:
    """A run's verified problems: id -> content hash."""
    return {
        sp.problem.id: sp.problem.content_hash
        for sp in store.problems(run_id=run_id)
        if sp.problem.status == "passed"
    }


def run_cli(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m infosynth_core ARGS…` from the repository root; output captured."""
    return subprocess.run(
        [sys.executable, "-m", "infosynth_core", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )


def run_pytest_on(problem, workdir: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a problem's tests against its solution with pytest in a fresh directory."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "solution.py").write_text(problem.solution, encoding="utf-8")
    (workdir / "test_solution.py").write_text(problem.tests, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_solution.py"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )


@pytest.fixture
def dashboard(tmp_path: Path):
    """A real `streamlit run app.py` on a free port with a fresh store; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "INFOSYNTH_DB": str(tmp_path / "dash.db"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    log = (tmp_path / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.read().decode().strip() == "ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError(
                    "streamlit did not start:\n" + (tmp_path / "streamlit.log").read_text()
                )
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
