"""The paper's method, complete in LLM runs (scripted server, 127.0.0.1 only): generated
problems are deduplicated against every seed, not only their colony's; ``feedback_rounds``
counts feedback rounds after the first solve (N_it); each generation records the test
quality of the benchmark so far."""

from __future__ import annotations

import re

import pytest
from openai_server import FakeOpenAIServer
from scripted_llm import FAMILIES, ScriptedLLM, scripted_problem

from infosynth_core import dedup, runner
from infosynth_core.config import load_run_config
from infosynth_core.llm import prompts
from infosynth_core.monitor import generation_rows
from infosynth_core.store import Store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _config(server, **over):
    base = {
        "engine": "llm",
        "seed_set": "scripted",
        "llm": {"base_url": server.base_url, "model": "scripted", "timeout_s": 5,
                "api_key_env": "INFOSYNTH_TEST_NO_KEY", "concurrency": 4},
        "generations": 1, "colonies": 1, "seeds_per_colony": 3, "steps_per_generation": 4,
        "mutation_ratio": 1.0, "k_farthest": False, "feedback_rounds": 2,
        "metrics": {"enabled": False}, "mutation_mutants": 0,
    }  # fmt: skip
    base.update(over)
    return load_run_config(overrides=base)


def _seeded_store(tmp_path) -> tuple[Store, list]:
    store = Store(tmp_path / "s.db")
    seeds = [scripted_problem(f.slug, str(k)) for f in FAMILIES for k in range(2)]
    store.create_seed_set("scripted", seeds, source="test", format="jsonl")
    return store, seeds


class CopyingLLM(ScriptedLLM):
    """Its "easier" mutation is a copy of a seed (each seed in turn), the other two are new."""

    def __init__(self, seeds, **kw):
        super().__init__(**kw)
        self.seeds, self.n = seeds, 0

    def _mutation(self, user, seed):
        answer = super()._mutation(user, seed)
        with self._lock:
            copy = self.seeds[self.n % len(self.seeds)].problem
            self.n += 1
        return re.sub(r"<easier>\n.*?\n</easier>", f"<easier>\n{copy}\n</easier>", answer,
                      flags=re.DOTALL)  # fmt: skip


def test_copies_of_seeds_outside_the_colony_are_dropped_as_duplicates(tmp_path):
    store, seeds = _seeded_store(tmp_path)
    llm = CopyingLLM(seeds)
    with FakeOpenAIServer(llm) as server:
        run = runner.create_run(store, _config(server))
        assert runner.execute(store, run.id) == "finished"
    pool = set(store.get_run(run.id).state["colonies"][0]["pool"])
    outside = [s for s in seeds if s.id not in pool]
    assert llm.n == 4 and len(outside) >= 9
    # copies of seeds in no colony's pool were proposed (each step copies the next seed)
    assert any(seeds[i].id not in pool for i in range(4))
    stored = [sp.problem.problem for sp in store.problems(run_id=run.id)]
    groups = dedup.near_duplicates(
        [f"s{i}" for i in range(len(seeds))] + [f"g{i}" for i in range(len(stored))],
        [s.problem for s in seeds] + stored,
    )
    assert not any(any(i.startswith("g") for i in g.ids) for g in groups)
    (gen,) = store.generation_metrics(run.id)
    assert gen["totals"]["duplicates"] >= 3  # (a copy of the step's own parent may be
    # dropped by the engine before dedup)


def test_feedback_rounds_count_after_the_first_solve_and_test_quality_is_recorded(tmp_path):
    store, _ = _seeded_store(tmp_path)
    with FakeOpenAIServer(ScriptedLLM(wrong_first=True)) as server:
        none = runner.create_run(store, _config(server, feedback_rounds=0))
        assert runner.execute(store, none.id) == "finished"
        one = runner.create_run(store, _config(server, feedback_rounds=1))
        assert runner.execute(store, one.id) == "finished"
    without = [sp.problem for sp in store.problems(run_id=none.id)]
    with_one = [sp.problem for sp in store.problems(run_id=one.id)]
    # N_it = 0: the wrong first solve is all there is; N_it = 1: the feedback round fixes it
    assert without and all(p.metadata["rounds"] == 1 and p.status != "passed" for p in without)
    fixed = [p for p in with_one if p.status == "passed"]
    assert fixed and all(p.metadata["rounds"] == 2 for p in fixed)
    assert prompts.kind_of  # the scripted model tells solve from feedback by the prompt
    (gen,) = store.generation_metrics(one.id)
    quality = gen["test_quality"]
    assert quality["problems"] == len([p for p in fixed if not p.metadata.get("degenerate")])
    expected = [
        p.metadata["test_quality"]["tests"] for p in fixed if "degenerate" not in p.metadata
    ]
    assert quality["tests_mean"] == pytest.approx(sum(expected) / len(expected), abs=1e-4)
    assert quality["asserts_mean"] >= quality["tests_mean"] >= 1
    assert 0 < quality["coverage_mean"] <= 1
    (row,) = generation_rows(store, one.id)
    assert row["tests / problem"] == quality["tests_mean"]
    assert row["line coverage"] == quality["coverage_mean"]


class SameVariantsLLM(ScriptedLLM):
    """Every mutation answers the same three new statements, whatever the parent: colonies
    working at the same time propose identical candidates."""

    def _mutation(self, user, seed):
        return "\n".join(
            f"<{w}>\n{self._variant('same', w)}\n</{w}>" for w in ("easier", "equal", "harder")
        )


def test_colonies_proposing_the_same_statement_at_once_do_not_crash_the_run(tmp_path):
    # k-farthest keeps 2 of 3 in each colony, so two colonies keep at least one statement in
    # common while both wait on the same embedding batch (a shared statement-keyed map of
    # signatures lost one of them: KeyError, run failed).
    store, _seeds = _seeded_store(tmp_path)
    with FakeOpenAIServer(SameVariantsLLM()) as server:
        cfg = _config(server, colonies=4, steps_per_generation=1, k_farthest=True, keep=2)
        run = runner.create_run(store, cfg)
        assert runner.execute(store, run.id) == "finished"
    stored = [sp.problem for sp in store.problems(run_id=run.id)]
    assert len(stored) == 8  # 4 colonies x 2 kept
    assert len({p.problem for p in stored}) <= 3
    assert all(p.status == "passed" for p in stored)
    kept = [p for p in stored if "duplicate_of" not in p.metadata]
    assert len(kept) == len({p.problem for p in stored})  # the merge keeps one of each
    assert len(runner.benchmark_problems(store, run.id)) == len(kept)


def test_the_event_loop_never_stalls_for_long_in_a_run(tmp_path):
    # Everything slow (embedding, tagging, the generation's merge and metrics inputs, sandbox
    # runs) is off the event loop; what stays on it (parsing answers, a step's MinHash, its
    # store writes) is short. Measured as CPU time of the loop's thread between two ticks of
    # a 10 ms watcher (infosynth_core.loopwatch), which a busy machine does not inflate.
    store, _seeds = _seeded_store(tmp_path)
    with FakeOpenAIServer(ScriptedLLM()) as server:
        cfg = _config(
            server, colonies=4, generations=2, steps_per_generation=3, k_farthest=True, keep=2,
            metrics={"enabled": True},
        )  # fmt: skip
        warm = runner.create_run(store, cfg.model_copy(update={"generations": 1}))
        runner.execute(store, warm.id)  # the model and the code paths warm, as in a long run
        run = runner.create_run(store, cfg)
        assert runner.execute(store, run.id) == "finished"
    loop = store.get_run(run.id).state["loop"]
    assert loop["ticks"] > 50
    assert loop["max_cpu_s"] < 0.1, loop
