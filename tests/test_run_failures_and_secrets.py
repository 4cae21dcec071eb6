"""Runs that fail say so, run files stay under the store, and API keys stay out of the
sandbox's reach under the process-level fallback. Only 127.0.0.1 is used."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT, run_cli
from openai_server import FakeOpenAIServer
from scripted_llm import ScriptedLLM

from infosynth_core import ConfigError, runner
from infosynth_core.config import load_run_config
from infosynth_core.monitor import run_progress
from infosynth_core.sandbox import Sandbox, fallback_warning
from infosynth_core.store import Store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SECRET = "sk-infosynth-test-5ecret-0123456789abcdef"


def _llm_config(server: FakeOpenAIServer, **over):
    return load_run_config(
        overrides={
            "engine": "llm",
            "llm": {
                "base_url": server.base_url,
                "model": "scripted",
                "api_key_env": "INFOSYNTH_TEST_NO_KEY",
                "timeout_s": 5,
                "max_retries": 1,
                "backoff_s": 0.01,
                "backoff_max_s": 0.02,
            },
            "generations": 2,
            "colonies": 2,
            "seeds_per_colony": 4,
            "steps_per_generation": 4,
            "feedback_rounds": 1,
            "metrics": {"enabled": False},
            **over,
        }
    )


def _lost_events(store: Store, run_id: str, what: str) -> int:
    return sum(
        1
        for e in store.events(run_id)
        if e["kind"] == "api_error" and (e.get("data") or {}).get("lost") == what
    )


# ----------------------------------------------------------------------- failing endpoint
def test_run_whose_every_call_fails_ends_failed_with_reason_and_counts_matching_events(tmp_path):
    store = Store(tmp_path / "s.db")
    with FakeOpenAIServer(ScriptedLLM(), fault_rate=1.0, fault_kinds=("500",)) as server:
        run = runner.create_run(store, _llm_config(server))
        assert runner.execute(store, run.id) == "failed"
    info = store.get_run(run.id)
    assert info.status == "failed"
    assert "endpoint failed" in info.error and "no problem was verified" in info.error
    assert "500" in info.error  # the last error is quoted
    tally = info.state["endpoint"]
    assert tally["steps_answered"] == 0
    # gave up early: 2 x colonies steps in a row, not all 16 steps of the run
    assert 4 <= tally["steps_lost"] < 2 * 2 * 4
    assert tally["steps_lost"] == _lost_events(store, run.id, "step")
    assert tally["verifications_lost"] == _lost_events(store, run.id, "verification") == 0
    progress = run_progress(store, run.id)
    assert progress["status"] == "failed" and progress["api_errors"] == tally["steps_lost"]
    assert progress["error"] == info.error


def test_run_that_verifies_nothing_because_verification_calls_fail_ends_failed(tmp_path):
    """Proposals are answered, every solve call fails: 0 verified, each loss counted."""
    from infosynth_core.llm import prompts

    scripted = ScriptedLLM()

    def responder(body):
        if prompts.kind_of(body.get("messages") or []) in ("solve", "feedback"):
            raise RuntimeError("solver offline")  # the test server answers 500
        return scripted(body)

    store = Store(tmp_path / "s.db")
    with FakeOpenAIServer(responder) as server:
        run = runner.create_run(store, _llm_config(server, generations=1))
        assert runner.execute(store, run.id) == "failed"
    info = store.get_run(run.id)
    assert info.status == "failed" and "endpoint failed" in info.error
    tally = info.state["endpoint"]
    assert tally["steps_answered"] > 0 and tally["verifications_lost"] > 0
    assert tally["verifications_lost"] == _lost_events(store, run.id, "verification")
    assert tally["steps_lost"] == _lost_events(store, run.id, "step")
    assert run_progress(store, run.id)["api_errors"] == (
        tally["steps_lost"] + tally["verifications_lost"]
    )


def test_cli_run_against_a_failing_endpoint_exits_non_zero_with_the_reason(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text(
        'engine = "llm"\ngenerations = 1\ncolonies = 2\n[metrics]\nenabled = false\n'
        '[llm]\nmodel = "scripted"\napi_key_env = "INFOSYNTH_TEST_NO_KEY"\n'
        "max_retries = 1\nbackoff_s = 0.01\nbackoff_max_s = 0.02\n"
    )
    with FakeOpenAIServer(ScriptedLLM(), fault_rate=1.0, fault_kinds=("500",)) as server:
        proc = run_cli(
            "run", "--db", tmp_path / "s.db", "--config", config, "--base-url", server.base_url
        )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "failed" in proc.stdout and "endpoint failed" in proc.stdout
    assert "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- run ids
@pytest.mark.parametrize("bad", ["../../x", "a/b", "..", ".hidden", "x`y`", "a b", "x" * 201])
def test_unsafe_run_ids_are_refused_and_nothing_is_written(tmp_path, bad):
    store = Store(tmp_path / "data" / "s.db")
    cfg = load_run_config(overrides={"metrics": {"enabled": False}})
    with pytest.raises(ConfigError, match="run id"):
        runner.create_run(store, cfg, run_id=bad)
    assert store.list_runs() == []
    with pytest.raises(ConfigError, match="run id"):
        runner.run_file(tmp_path / "data" / "s.db", bad)


def test_cli_run_id_with_path_parts_is_refused_and_no_file_leaves_the_store_folder(tmp_path):
    db = tmp_path / "store" / "s.db"
    proc = run_cli("run", "--db", db, "--run-id", "../../escape", "--detach")
    assert proc.returncode != 0
    assert "run id" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("**/escape*"))
    assert runner.run_file(db, "run-1").parent == (tmp_path / "store" / "runs").resolve()


# ------------------------------------------------------------------------- API key reach
_PROBE_TESTS = """
import os
from solution import secret_places

def test_the_key_is_nowhere_the_sandbox_can_read():
    assert secret_places() == []
"""

# The probe holds the key reversed, so that its own source (in the holder's argv) does not
# count as a find.
_PROBE_SOLUTION = f"""
import os

def secret_places():
    key = {SECRET[::-1]!r}[::-1]
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        for what in ("environ", "cmdline"):
            try:
                with open(f"/proc/{{name}}/{{what}}", "rb") as f:
                    if key.encode() in f.read():
                        found.append((name, what))
            except OSError:
                pass
    if key in str(dict(os.environ)):
        found.append(("self", "os.environ"))
    return found
"""

# A process that holds the key the way the runner does, then starts fallback test code.
_HOLDER = textwrap.dedent(
    f"""
    import json, sys
    from infosynth_core.apikeys import get_key, hold_environment_keys
    from infosynth_core.sandbox import Sandbox

    hold_environment_keys(["MY_LLM_CREDS"])
    held = get_key("MY_LLM_CREDS") == {SECRET!r}
    with Sandbox(workers=1, isolation="process") as sb:
        r = sb.run(sys.argv[1], sys.argv[2], id="probe")
    print(json.dumps({{"held": held, "status": r.status, "stderr": r.stderr[-2000:],
                      "tests": r.tests, "warning": sb.warning}}))
    """
)


def _probe(env: dict[str, str], tmp_path) -> dict:
    script = tmp_path / "holder.py"
    script.write_text(_HOLDER)
    proc = subprocess.run(
        [sys.executable, str(script), _PROBE_SOLUTION, _PROBE_TESTS],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _base_env() -> dict[str, str]:
    import os

    keep = ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PYTHONPATH"] = str(ROOT) + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def test_fallback_test_code_cannot_find_a_key_exported_in_the_environment(tmp_path):
    """`infosynth run` from a shell that exported the key: the runner holds it in memory
    and wipes it from its environment block before any test code starts."""
    result = _probe({**_base_env(), "MY_LLM_CREDS": SECRET, "OPENAI_API_KEY": SECRET}, tmp_path)
    assert result["held"] is True
    assert result["status"] == "passed", result
    assert "was chosen" in result["warning"]


def test_fallback_test_code_cannot_find_a_key_handed_over_by_the_dashboard(tmp_path):
    """The dashboard hands a typed key to the runner through a pipe, never an environment."""
    from infosynth_core.apikeys import KEY_FD_VAR, key_pipe

    fd = key_pipe({"MY_LLM_CREDS": SECRET})
    script = tmp_path / "holder.py"
    script.write_text(_HOLDER)
    try:
        proc = subprocess.run(
            [sys.executable, str(script), _PROBE_SOLUTION, _PROBE_TESTS],
            env={**_base_env(), KEY_FD_VAR: str(fd)},
            pass_fds=(fd,),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        import os

        os.close(fd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["held"] is True and result["status"] == "passed", result


def test_launch_passes_keys_by_pipe_and_never_in_the_child_environment(tmp_path):
    out = tmp_path / "child.json"
    child = (
        "import json, os, sys\n"
        "from infosynth_core.apikeys import get_key, hold_environment_keys\n"
        "raw = open('/proc/self/environ','rb').read()\n"
        "hold_environment_keys()\n"
        f"json.dump({{'in_env': {SECRET!r}.encode() in raw, 'key': get_key('OPENAI_API_KEY')}},"
        f" open({str(out)!r}, 'w'))\n"
    )
    pid = runner.launch(
        [sys.executable, "-c", child], tmp_path / "runs" / "x.log", keys={"OPENAI_API_KEY": SECRET}
    )
    import os
    import time

    deadline = time.monotonic() + 120
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    data = json.loads(out.read_text())
    assert data == {"in_env": False, "key": SECRET}


def test_fallback_warning_says_why_the_fallback_is_in_use():
    chosen = Sandbox(workers=1, isolation="process")
    try:
        assert "was chosen" in chosen.warning and "unavailable" not in chosen.warning
    finally:
        chosen.close()
    auto = fallback_warning("auto")
    assert "unavailable (" in auto and "bubblewrap" in auto
