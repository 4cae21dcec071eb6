"""The degeneracy filter and test strength inside the genetic loop: degenerate problems never
count as verified, are counted per operator, and every benchmark problem is free of findings
and carries a mutation score. LLM runs use the
real client against the local scripted server (127.0.0.1 only)."""

from __future__ import annotations

import re

import pytest
from openai_server import FakeOpenAIServer
from scripted_llm import ScriptedLLM

from infosynth_core import runner
from infosynth_core.config import load_run_config
from infosynth_core.degeneracy import find_degeneracies
from infosynth_core.explore import operator_yield
from infosynth_core.llm import prompts
from infosynth_core.monitor import generation_rows
from infosynth_core.store import Store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _check_run(store: Store, run_id: str) -> int:
    problems = {sp.problem.id: sp.problem for sp in store.problems(run_id=run_id)}
    bench = {sp.problem.id for sp in runner.benchmark_problems(store, run_id)}
    degenerate = [p for p in problems.values() if p.metadata.get("degenerate")]
    seeds = {p.id: p for p in store.seed_set_problems("bundled")}
    everyone = {**seeds, **problems}
    for p in degenerate:
        assert p.id not in bench and p.status == "passed"
        assert {d["kind"] for d in p.metadata["degenerate"]} <= {
            "constant_output",
            "ignored_argument",
            "duplicate_tests",
            "parent_copy",
        }
    for pid in bench:  # nothing in the benchmark has a finding; each has a mutation score
        p = problems[pid]
        ms = p.metadata["mutation_score"]
        assert ms["total"] > 0 and ms["score"] == pytest.approx(ms["killed"] / ms["total"], 1e-3)
        parents = [everyone[i] for i in p.origin.parents if i in everyone]
        assert find_degeneracies(p, parents=parents) == [], pid
    counted = sum(r["degenerate"] for r in generation_rows(store, run_id))
    assert counted == len(degenerate)
    events = [e for e in store.events(run_id) if e["kind"] == "degenerate"]
    assert len(events) == len(degenerate)
    table = operator_yield(store, run_id).set_index("operator")
    assert table.loc["all", "degenerate"] == len(degenerate)
    return len(degenerate)


def test_llm_run_rejects_degenerate_problems_and_counts_them(tmp_path):
    store = Store(tmp_path / "s.db")
    config = load_run_config(
        overrides={
            "engine": "llm",
            "llm": {
                "base_url": "http://127.0.0.1:1/v1",
                "model": "scripted",
                "api_key_env": "INFOSYNTH_TEST_NO_KEY",
                "backoff_s": 0.01,
                "backoff_max_s": 0.05,
            },
            "generations": 2,
            "colonies": 2,
            "seeds_per_colony": 6,
            "steps_per_generation": 4,
            "feedback_rounds": 2,
            "metrics": {"enabled": False},
            "random_state": 3,
        }
    )
    scripted = ScriptedLLM()
    answered = {"n": 0}

    def responder(body):
        """Every third solve answer repeats its first test under a new name: a passing
        problem whose tests are duplicates, which the filter must reject."""
        text = scripted(body)
        if prompts.kind_of(body.get("messages") or []) == "solve" and "def test_case_0" in text:
            answered["n"] += 1
            if answered["n"] % 3 == 0:
                first = re.search(r"def test_case_0\(\):\n    assert [^\n]*\n", text).group(0)
                text = text.replace(first, first + "\n\n" + first.replace("_0(", "_again("), 1)
        return text

    with FakeOpenAIServer(responder) as server:
        config = config.model_copy(
            update={"llm": config.llm.model_copy(update={"base_url": server.base_url})}
        )
        run = runner.create_run(store, config)
        assert runner.execute(store, run.id) == "finished"
    assert _check_run(store, run.id) >= 1
    assert runner.benchmark_problems(store, run.id)


def test_offline_run_benchmark_has_no_degenerate_problem(tmp_path):
    store = Store(tmp_path / "s.db")
    config = load_run_config(
        overrides={
            "generations": 1,
            "colonies": 2,
            "steps_per_generation": 3,
            "metrics": {"enabled": False},
        }
    )
    run = runner.create_run(store, config)
    assert runner.execute(store, run.id) == "finished"
    _check_run(store, run.id)
