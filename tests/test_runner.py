"""The genetic loop with the offline engine, end to end through the runner and the CLI:
a 3-generation run on the bundled seeds, kill -9 and resume, pause/resume/stop through the
store, config errors."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from conftest import passed_problems, run_cli, wait_until

from infosynth_core import runner
from infosynth_core.config import load_run_config
from infosynth_core.store import Store

SMALL = {
    "generations": 3,
    "colonies": 2,
    "seeds_per_colony": 8,
    "steps_per_generation": 2,
    "feedback_rounds": 2,
    "metrics": {"runs": 1},
}


def test_offline_run_three_generations_with_lineage_and_metrics(tmp_path):
    db = tmp_path / "s.db"
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        'name = "offline-demo"\ngenerations = 3\ncolonies = 2\nseeds_per_colony = 8\n'
        "steps_per_generation = 2\nfeedback_rounds = 2\n[metrics]\nruns = 1\n",
        encoding="utf-8",
    )
    proc = run_cli("run", "--config", cfg, "--db", db, "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["status"] == "finished"
    assert [g["generation"] for g in summary["generations"]] == [1, 2, 3]
    assert "ETA" in proc.stderr  # progress lines
    store = Store(db)
    run_id = summary["run_id"]
    problems = [sp.problem for sp in store.problems(run_id=run_id)]
    seeds = {p.id for p in store.seed_set_problems("bundled")}
    known = set(seeds)
    for p in sorted(problems, key=lambda p: p.origin.generation):
        assert 1 <= p.origin.generation <= 3
        assert p.origin.operator in (
            "mutation-easy",
            "mutation-medium",
            "mutation-hard",
            "crossover",
        )
        assert p.origin.parents and set(p.origin.parents) <= known | {q.id for q in problems}
        assert p.origin.colony in (0, 1)
        known.add(p.id)
    verified = [p for p in problems if p.status == "passed"]
    assert len(verified) == summary["verified"] + sum(
        "duplicate_of" in p.metadata for p in verified
    )
    assert summary["verified"] >= 6, summary
    pk = next(sp.pk for sp in store.problems(run_id=run_id) if sp.problem.status == "passed")
    attempts = store.attempts(pk)
    assert attempts and attempts[-1].status == "passed" and attempts[-1].outcomes
    gens = store.generation_metrics(run_id)
    assert [g["generation"] for g in gens] == [1, 2, 3]
    for g in gens:
        assert g["totals"]["kept"] <= g["totals"]["proposed"]
        assert sum(g["steps"].values()) == 2 * 2  # colonies x steps
        assert set(g["topic_coverage"]) == {"seeds", "generated"}
    assert "novelty" in gens[-1]["metrics"], gens[-1]["metrics"]
    assert gens[-1]["verified_total"] == summary["verified"]
    status = runner.run_status(store, run_id)
    assert status["status"] == "finished" and status["progress"]["steps_done"] == 12


def test_offline_run_is_deterministic_under_random_state(tmp_path):
    store = Store(tmp_path / "s.db")
    cfg = load_run_config(
        overrides={**SMALL, "generations": 1, "k_farthest": False, "metrics": {"enabled": False}}
    )
    texts = []
    for _ in range(2):
        run = runner.create_run(store, cfg)
        assert runner.execute(store, run.id) == "finished"
        texts.append([(sp.problem.id, sp.problem.problem) for sp in store.problems(run_id=run.id)])
    assert texts[0] and texts[0] == texts[1]


def test_run_resumes_after_kill_9_without_losing_a_verified_problem(tmp_path):
    db = tmp_path / "s.db"
    store = Store(db)
    cfg = load_run_config(overrides={**SMALL, "steps_per_generation": 3})
    run = runner.create_run(store, cfg, run_id="killme")
    pid = runner.spawn(db, run.id)
    try:
        wait_until(lambda: len(passed_problems(store, run.id)) >= 3, 300, "3 verified problems")
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    before = passed_problems(store, run.id)
    assert runner.run_status(store, run.id)["status"] == "interrupted"
    proc = run_cli("run", "--resume", run.id, "--db", db, "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = passed_problems(store, run.id)
    assert before.items() <= after.items()  # every verified problem kept, unchanged
    ids = [sp.problem.id for sp in store.problems(run_id=run.id)]
    assert len(ids) == len(set(ids))
    assert [g["generation"] for g in store.generation_metrics(run.id)] == [1, 2, 3]
    assert store.get_run(run.id).status == "finished"
    proc = run_cli("run", "--resume", run.id, "--db", db)
    assert proc.returncode == 1 and "already finished" in proc.stderr


def test_pause_resume_and_stop_are_honoured_between_steps(tmp_path):
    db = tmp_path / "s.db"
    store = Store(db)
    cfg = load_run_config(overrides={**SMALL, "generations": 50, "metrics": {"enabled": False}})
    run = runner.create_run(store, cfg)
    pid = runner.spawn(db, run.id)
    try:
        wait_until(lambda: store.get_run(run.id).status == "running", 120, "the runner to start")
        runner.request(store, run.id, "pause")
        wait_until(lambda: store.get_run(run.id).status == "paused", 180, "status paused")
        steps = runner.run_status(store, run.id)["progress"].get("steps_done", 0)
        time.sleep(2)
        assert runner.run_status(store, run.id)["progress"].get("steps_done", 0) == steps
        runner.request(store, run.id, "resume")
        wait_until(lambda: store.get_run(run.id).status == "running", 30, "status running again")
        runner.request(store, run.id, "stop")
        wait_until(lambda: store.get_run(run.id).status == "stopped", 180, "status stopped")
        wait_until(lambda: os.waitpid(pid, os.WNOHANG)[0] == pid, 30, "the runner to exit")
    finally:
        if runner.pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    kinds = [e["message"] for e in store.events(run.id) if e["kind"] == "control"]
    assert kinds == ["paused between steps", "resumed"]


def test_a_stop_asked_for_before_the_runner_starts_is_obeyed(tmp_path):
    # Stop pressed right after Start (or `infosynth control RUN stop` on a run still
    # "created") used to be cleared by the runner as it claimed the run: the run went on.
    store = Store(tmp_path / "s.db")
    cfg = load_run_config(overrides={**SMALL, "generations": 50, "metrics": {"enabled": False}})
    run = runner.create_run(store, cfg)
    runner.request(store, run.id, "stop")
    assert runner.execute(store, run.id) == "stopped"
    assert runner.run_status(store, run.id)["progress"].get("steps_done", 0) == 0
    # a stop left over from that session does not stop the resumed run at once
    store.update_run(run.id, control="stop")
    cfg_one = {"generations": 1}
    runner.extend(store, run.id, cfg_one, who="test")
    assert runner.execute(store, run.id) == "finished"


def test_run_config_errors_name_the_key_and_leave_the_store_alone(tmp_path):
    db = tmp_path / "s.db"
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("generations: 2\ncolonys: 3\n", encoding="utf-8")
    proc = run_cli("run", "--config", cfg, "--db", db)
    assert proc.returncode == 1
    assert "unknown key 'colonys'" in proc.stderr and "colonies" in proc.stderr
    proc = run_cli("run", "--db", db, "--mutation-ratio", "1.5")
    assert proc.returncode == 1 and "mutation_ratio" in proc.stderr and "1.5" in proc.stderr
    proc = run_cli("run", "--db", db, "--seed-set", "nope")
    assert proc.returncode == 1 and "seed_set 'nope'" in proc.stderr
    assert Store(db).list_runs() == []


@pytest.mark.parametrize("action", ["pause", "stop"])
def test_control_of_a_finished_run_is_refused(store, action):
    from infosynth_core.errors import RunControlError

    cfg = load_run_config(overrides={"generations": 1})
    run = runner.create_run(store, cfg)
    store.update_run(run.id, status="finished")
    with pytest.raises(RunControlError, match="finished"):
        runner.request(store, run.id, action)


def test_metrics_left_pending_by_a_stop_are_measured_on_resume(tmp_path):
    """Generation metrics run in a background process; a run stopped before they were written
    keeps them ``pending`` and measures them when it resumes."""
    from infosynth_core.explore import generation_curves, pending_generations

    db = tmp_path / "s.db"
    store = Store(db)
    cfg = load_run_config(overrides={**SMALL, "generations": 1, "steps_per_generation": 3})
    run = runner.create_run(store, cfg)
    proc = run_cli("run", "--resume", run.id, "--db", db, "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (record,) = store.generation_metrics(run.id)
    assert "novelty" in record["metrics"] and "pending" not in record["metrics"]
    measured = generation_curves(store, run.id)
    # as a stop between the generation's end and its metrics leaves it:
    store.record_generation(run.id, 1, {**record, "metrics": {"pending": "measuring"}})
    store.update_run(run.id, status="stopped")
    assert pending_generations(store, run.id) == [1]
    assert generation_curves(store, run.id).empty
    proc = run_cli("run", "--resume", run.id, "--db", db, "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert pending_generations(store, run.id) == []
    assert store.get_run(run.id).status == "finished"
    again = generation_curves(store, run.id)
    # the same vectors, fits and seeds: the same numbers
    assert again["novelty_mean"].tolist() == measured["novelty_mean"].tolist()
