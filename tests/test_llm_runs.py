"""Synthesis runs with the LLM engine: the real ``openai`` client against a local
OpenAI-compatible server (scripted model) — a whole run, kill -9 and resume without repeating
a cached call, a run with 30% injected faults, and the budget cap. Only 127.0.0.1 is used."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from conftest import passed_problems, run_cli, wait_until
from openai_server import FakeOpenAIServer
from scripted_llm import ScriptedLLM

from infosynth_core import runner
from infosynth_core.config import load_run_config
from infosynth_core.store import Store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _config(server: FakeOpenAIServer, **over):
    llm = {
        "base_url": server.base_url,
        "model": "scripted",
        "api_key_env": "INFOSYNTH_TEST_NO_KEY",
        "timeout_s": 5,
        "backoff_s": 0.01,
        "backoff_max_s": 0.05,
        "concurrency": 8,
        **over.pop("llm", {}),
    }
    base = {
        "engine": "llm",
        "llm": llm,
        "generations": 2,
        "colonies": 2,
        "seeds_per_colony": 6,
        "steps_per_generation": 2,
        "feedback_rounds": 2,
        "metrics": {"enabled": False},
    }
    base.update(over)
    return load_run_config(overrides=base)


def test_llm_run_stores_verified_problems_lineage_tokens_and_records(tmp_path):
    store = Store(tmp_path / "s.db")
    with FakeOpenAIServer(ScriptedLLM(wrong_first=True)) as server:
        run = runner.create_run(store, _config(server, rephrase=True))
        assert runner.execute(store, run.id) == "finished"
    problems = [sp.problem for sp in store.problems(run_id=run.id)]
    # benchmark items: passed and not degenerate (those are not rephrased)
    passed = [p for p in problems if p.status == "passed" and not p.metadata.get("degenerate")]
    assert len(passed) >= 4
    for p in passed:
        assert p.origin.parents and p.origin.generation in (1, 2)
        assert p.metadata["engine"] == "llm" and p.metadata["model"] == "scripted"
        assert "original_problem" in p.metadata  # rephrased after verification
    fixed = [sp for sp in store.problems(run_id=run.id) if sp.problem.metadata.get("rounds") == 2]
    assert fixed, "wrong-first answers should be fixed in the feedback round"
    assert [a.status for a in store.attempts(fixed[0].pk)][-1] == "passed"
    gens = store.generation_metrics(run.id)
    assert [g["generation"] for g in gens] == [1, 2]
    assert all(g["usage"]["prompt_tokens"] > 0 for g in gens)
    total = sum(g["usage"]["prompt_tokens"] + g["usage"]["completion_tokens"] for g in gens)
    state = store.get_run(run.id).state
    assert state["usage"]["prompt_tokens"] + state["usage"]["completion_tokens"] == total
    billed = state["llm_spent"]  # also counts rephrase calls, outside the operators' counts
    assert billed["prompt_tokens"] + billed["completion_tokens"] >= total
    assert len(server.requests) >= sum(g["usage"]["calls"] for g in gens) > 0


def test_llm_run_resumes_after_kill_9_without_repeating_a_cached_call(tmp_path):
    db = tmp_path / "s.db"
    store = Store(db)
    with FakeOpenAIServer(ScriptedLLM(), latency_s=0.05) as server:
        cfg = _config(server, generations=3, steps_per_generation=3)
        run = runner.create_run(store, cfg, run_id="llm-kill")
        pid = runner.spawn(db, run.id)
        try:
            wait_until(lambda: len(passed_problems(store, run.id)) >= 3, 240, "3 verified problems")
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        killed_at = time.monotonic()
        before = passed_problems(store, run.id)
        cached = {
            json.dumps(
                [
                    r["messages"],
                    r["params"]["temperature"],
                    r["params"]["max_tokens"],
                    r["params"]["seed"],
                ],
                sort_keys=True,
            )
            for r in (
                json.loads(row["request"]) for row in store._query("SELECT request FROM llm_cache")
            )
        }
        assert cached
        n_before = len(server.requests)
        proc = run_cli("run", "--resume", run.id, "--db", db, "--json", timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        after_kill = [
            body
            for body, t in zip(server.requests, server.request_times, strict=True)
            if t > killed_at
        ]
    assert len(after_kill) == len(server.requests) - n_before
    repeated = [
        b
        for b in after_kill
        if json.dumps(
            [b["messages"], b.get("temperature"), b.get("max_tokens"), b.get("seed")],
            sort_keys=True,
        )
        in cached
    ]
    assert repeated == []  # no cached call is sent again
    assert before.items() <= passed_problems(store, run.id).items()
    assert store.get_run(run.id).status == "finished"
    assert json.loads(proc.stdout)["status"] == "finished"



def test_spend_after_ten_kill_9s_equals_what_the_server_billed_minus_in_flight(tmp_path):
    """Exact spend: every billed answer is in the run's ledger the moment it arrives, so ten
    kill -9s lose at most the answers in flight at the kills, and nothing is charged twice."""
    db = tmp_path / "s.db"
    store = Store(db)
    with FakeOpenAIServer(ScriptedLLM(), latency_s=0.05) as server:
        cfg = _config(server, generations=3, steps_per_generation=3)
        run = runner.create_run(store, cfg, run_id="llm-kills")
        in_flight_at_kills = 0
        for kill in range(10):
            rows = store.llm_spend(run.id)["calls"]
            pid = runner.spawn(db, run.id)
            try:
                wait_until(
                    lambda rows=rows: store.llm_spend(run.id)["calls"] >= rows + 4
                    or store.get_run(run.id).status == "finished",
                    240,
                    f"4 more billed answers before kill {kill + 1}",
                    poll=0.05,
                )
                answered = len(server.billed)
                in_flight = server.in_flight
            finally:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            # in flight at the kill: being served, answered between the read and the kill, or
            # answered but not yet read by the client: at most llm.concurrency requests
            assert in_flight + len(server.billed) - answered <= cfg.llm.concurrency
            in_flight_at_kills += cfg.llm.concurrency
            if kill == 0:
                listed = run_cli("list", "--db", db, "--json")
                (row,) = json.loads(listed.stdout)["runs"]
                assert row["status"] == "interrupted" and row["usage"]["calls"] > 0
        proc = run_cli("run", "--resume", run.id, "--db", db, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        billed = list(server.billed)
    spend = store.llm_spend(run.id)
    assert store.get_run(run.id).status == "finished"
    assert len(billed) - in_flight_at_kills <= spend["calls"] <= len(billed)
    assert spend["prompt_tokens"] <= sum(p for p, _ in billed)
    assert spend["completion_tokens"] <= sum(c for _, c in billed)
    assert spend["paid_twice"] <= in_flight_at_kills
    # the CLI reports the same ledger and the endpoint's behaviour
    assert f"{spend['calls']} billed calls" in proc.stdout and "paid twice" in proc.stdout
    status = runner.run_status(store, run.id)
    assert status["usage"]["calls"] == spend["calls"] and status["endpoint"]["faults"] == 0


def test_llm_run_with_30_percent_injected_faults_completes_and_counts_them(tmp_path):
    store = Store(tmp_path / "s.db")
    server = FakeOpenAIServer(
        ScriptedLLM(),
        fault_rate=0.3,
        fault_kinds=("429", "500", "timeout", "garbage"),
        hang_s=2.0,
        seed=7,
    )
    with server:
        cfg = _config(server, llm={"timeout_s": 0.5, "max_retries": 12})
        run = runner.create_run(store, cfg)
        assert runner.execute(store, run.id) == "finished"
    faults = sum(server.fault_counts.values())
    assert faults >= 5, server.fault_counts
    assert 0.15 < faults / len(server.requests) < 0.45
    events = [e for e in store.events(run.id) if e["kind"] == "api_error"]
    # every injected fault is one recorded failed try; a slow machine may add a genuine
    # timeout or two (0.5 s per answer), never fewer
    assert faults <= len(events) <= faults + 3
    assert {e["data"]["kind"] for e in events} >= {"429", "5xx", "timeout", "malformed"}
    assert len(passed_problems(store, run.id)) >= 3


def _stopped_by_budget(store, server, budget: int, generations: int):
    """A run executed until its token budget stopped it: (config, run)."""
    cfg = _config(
        server, generations=generations, llm={"budget_tokens": budget, "concurrency": 2}
    )
    run = runner.create_run(store, cfg)
    assert runner.execute(store, run.id) == "stopped"
    return cfg, run


def test_budget_cap_stops_the_run_cleanly_and_resume_respects_it(tmp_path):
    db = tmp_path / "s.db"
    store = Store(db)
    with FakeOpenAIServer(ScriptedLLM()) as server:
        cfg, run = _stopped_by_budget(store, server, 4000, generations=5)
        info = store.get_run(run.id)
        assert info.status == "stopped" and "budget" in info.error
        billed = info.state["llm_spent"]
        spent = billed["prompt_tokens"] + billed["completion_tokens"]
        assert spent >= 4000
        # overshoot bounded by the calls in flight: concurrency x (prompt + max_tokens)
        assert spent < 4000 + 2 * (3000 + cfg.llm.max_tokens)
        assert [e for e in store.events(run.id) if e["kind"] == "budget"]
        n = len(server.requests)
        proc = run_cli("run", "--resume", run.id, "--db", db, timeout=300)
        assert proc.returncode == 4, proc.stderr[-2000:]
        assert "budget" in proc.stdout
        assert len(server.requests) == n  # spent budget carried over: nothing new was sent



def test_a_budget_stopped_run_is_raised_continued_and_finished(tmp_path):
    db = tmp_path / "s.db"
    store = Store(db)
    with FakeOpenAIServer(ScriptedLLM()) as server:
        _, run = _stopped_by_budget(store, server, 3000, generations=2)
        assert "control" in store.get_run(run.id).error  # says how to go on
        # refused: another setting, a value the config refuses, no settings at all
        for bad, words in (
            (["colonies=3"], "Only llm.budget_tokens"),
            (["llm.budget_tokens=-5"], "budget_tokens"),
            (["generations=five"], "must be a number"),
            ([], "needs KEY=VALUE"),
        ):
            proc = run_cli("control", run.id, "set", *bad, "--db", db)
            assert proc.returncode != 0 and words in proc.stderr, (bad, proc.stderr)
        proc = run_cli("control", run.id, "set", "llm.budget_tokens=10000000", "--db", db)
        assert proc.returncode == 0, proc.stderr
        assert "llm.budget_tokens 3000 → 10000000" in proc.stdout and "--resume" in proc.stdout
        proc = run_cli("run", "--resume", run.id, "--db", db, "--json", timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        # a finished run can be extended too: one more generation, from the flags
        proc = run_cli("run", "--resume", run.id, "--generations", "3", "--db", db, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    info = store.get_run(run.id)
    assert info.status == "finished" and info.config["generations"] == 3
    assert [g["generation"] for g in store.generation_metrics(run.id)] == [1, 2, 3]
    # nothing the budget stop left unverified stays so
    assert [sp.problem.id for sp in store.problems(run_id=run.id)
            if sp.problem.status == "unverified"] == []  # fmt: skip
    changes = runner.config_changes(store, run.id)
    assert [c["changes"] for c in changes] == [
        {"llm.budget_tokens": [3000, 10000000]},
        {"generations": [2, 3]},
    ]
    assert all(c["who"] == "cli" and c["at"] for c in changes)
    proc = run_cli("export", run.id, "--format", "jsonl", "--out", tmp_path / "b.jsonl", "--db", db)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "b.manifest.json").read_text())
    assert manifest["source"]["config_changes"] == changes
    assert manifest["config"]["llm"]["budget_tokens"] == 10000000


def test_cli_evaluate_reports_pass_fail_error_and_pass_at_k(tmp_path):
    db = tmp_path / "s.db"
    store = Store(db)
    with FakeOpenAIServer(ScriptedLLM()) as server:
        run = runner.create_run(store, _config(server, generations=1))
        assert runner.execute(store, run.id) == "finished"
        n = len(runner.benchmark_problems(store, run.id))
        assert n >= 2
        proc = run_cli(
            "evaluate",
            run.id,
            "--db",
            db,
            "--model",
            "scripted",
            "--base-url",
            server.base_url,
            "--samples",
            "3",
            "--api-key-env",
            "NO_KEY_HERE",
            "--json",
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        report = json.loads(proc.stdout)
        assert report["n_problems"] == n and report["n_answers"] == 3 * n
        pcts = [report[f"pct_{o}"] for o in ("pass", "fail", "error")]
        assert abs(sum(pcts) - 100.0) < 1e-6
        assert set(report["pass_at_k"]) == {"1", "3"}
        assert 0.0 <= report["pass_at_k"]["1"] <= report["pass_at_k"]["3"] <= 1.0
        # the mixed-correctness scripted model gets some right and some wrong
        assert 0 < report["pct_pass"] < 100
        table = run_cli(
            "evaluate",
            run.id,
            "--db",
            db,
            "--model",
            "scripted",
            "--base-url",
            server.base_url,
            "--samples",
            "3",
            "--api-key-env",
            "NO_KEY_HERE",
        )
        assert "pass@1" in table.stdout and table.returncode == 0
    assert [e for e in store.events(run.id) if e["kind"] == "evaluation"]
    proc = run_cli("evaluate", "no-such-run", "--db", db, "--model", "m")
    assert proc.returncode == 1 and "no-such-run" in proc.stderr
