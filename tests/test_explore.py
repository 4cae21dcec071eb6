"""infosynth_core.explore on real offline runs: the map (stable coordinates, downsampling),
curves and coverage against the stored records, operator yield, lineage, run comparison."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from infosynth_core import ConfigError, NotFoundError, Store, runner
from infosynth_core.config import load_run_config
from infosynth_core.embed import Embedder
from infosynth_core.explore import (
    CURVE_COLUMNS,
    MAP_COLUMNS,
    YIELD_COLUMNS,
    clear_cache,
    compare_runs,
    generation_curves,
    lineage,
    operator_yield,
    run_map,
    seed_map,
    topic_coverage_compare,
    topic_coverage_frame,
)
from infosynth_core.problem import Origin
from infosynth_core.topics import coverage

SMALL = {
    "generations": 2,
    "colonies": 2,
    "seeds_per_colony": 6,
    "steps_per_generation": 2,
    "feedback_rounds": 1,
    "metrics": {"runs": 2, "draws": 2, "min_n": 6},
}
RUNS = (SMALL, {**SMALL, "generations": 1, "k_farthest": False, "name": "no k-farthest"})


def finished_runs(tmp_path_factory, name: str) -> tuple[Path, list[str]]:
    """A copy of a store with two finished offline runs (k-farthest on, 2 generations; off,
    1 generation), built once per test session (~45 s) and copied for each caller."""
    base = tmp_path_factory.getbasetemp() / "explore-runs"
    marker = base / "runs.json"
    if not marker.exists():
        base.mkdir(exist_ok=True)
        store = Store(base / "runs.db")
        ids = []
        for overrides in RUNS:
            run = runner.create_run(store, load_run_config(overrides=overrides))
            runner.execute(store, run.id)
            ids.append(run.id)
        marker.write_text(json.dumps(ids))
    return copy_store(base / "runs.db", tmp_path_factory.mktemp(name) / "store.db"), json.loads(
        marker.read_text()
    )


def copy_store(src: Path, dst: Path) -> Path:
    """A consistent copy of a WAL-mode SQLite store (the backup API, not a file copy)."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close(), b.close()
    return dst


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    db, ids = finished_runs(tmp_path_factory, "explore")
    store = Store(db)
    yield store, ids
    store.close()


def test_run_map_has_every_point_with_its_facts(runs):
    store, (run_id, _) = runs
    df = run_map(store, run_id)
    seeds = store.seed_set_problems("bundled")
    problems = store.problems(run_id=run_id)
    assert list(df.columns) == list(MAP_COLUMNS)
    assert df["key"].is_unique and len(df) == len(seeds) + len(problems)
    assert df.attrs["total"] == len(df) and df.attrs["dropped"] == 0
    s, g = df[df["set"] == "seed"], df[df["set"] == "generated"]
    assert list(s["id"]) == [p.id for p in seeds] and (s["generation"] == 0).all()
    assert s["pk"].isna().all() and (s["operator"] == "seed").all() and s["colony"].isna().all()
    assert list(g["pk"]) == [sp.pk for sp in problems]
    assert list(g["key"]) == [f"run:{sp.pk}" for sp in problems]
    assert list(g["generation"]) == [sp.problem.origin.generation for sp in problems]
    assert list(g["status"]) == [sp.problem.status for sp in problems]
    assert list(g["topic"]) == [(sp.problem.topics or ("none",))[0] for sp in problems]
    assert np.isfinite(df[["x", "y"]].to_numpy()).all()
    assert df["statement"].str.len().max() <= 200
    # the Seeds page's map puts the seeds where the run's map does
    sm = seed_map(store, "bundled")
    assert list(sm["id"]) == list(s["id"])
    np.testing.assert_allclose(sm[["x", "y"]].to_numpy(), s[["x", "y"]].to_numpy())


def test_run_map_keeps_coordinates_when_a_generation_is_added(runs, tmp_path):
    src, (run_id, _) = runs
    store = Store(copy_store(src.path, tmp_path / "grow.db"))
    before = run_map(store, run_id)
    assert before.attrs["refitted"]
    old = [sp.problem for sp in store.problems(run_id=run_id)][:6]
    store.add_problems(
        run_id,
        [
            p.model_copy(
                update={
                    "id": f"g3-{i}",
                    "problem": p.problem + " Finally, return the answer modulo 1000000007.",
                    "origin": Origin(operator="mutation-hard", parents=(p.id,), generation=3),
                }
            )
            for i, p in enumerate(old)
        ],
    )
    after = run_map(store, run_id)
    assert not after.attrs["refitted"]
    assert len(after) == len(before) + 6 and set(after["generation"]) >= {3}
    kept = after.set_index("key").loc[before["key"], ["x", "y"]]
    np.testing.assert_array_equal(kept.to_numpy(), before[["x", "y"]].to_numpy())
    new = after[after["generation"] == 3]
    assert np.isfinite(new[["x", "y"]].to_numpy()).all()
    # a refit on request starts a new layout; a restarted process refits the same seed frame
    again = run_map(store, run_id, refit=True)
    assert again.attrs["refitted"] and again.attrs["layout_generation"] == 2
    clear_cache()
    fresh = run_map(store, run_id).set_index("key")
    seeds = before[before["set"] == "seed"]
    np.testing.assert_allclose(
        fresh.loc[seeds["key"], ["x", "y"]].to_numpy(), seeds[["x", "y"]].to_numpy()
    )
    store.close()


def test_run_map_downsamples_keeping_generations_in_proportion(runs):
    store, (run_id, _) = runs
    full = run_map(store, run_id).set_index("key")
    n_gen = int((full["set"] == "generated").sum())
    small = run_map(store, run_id, max_points=10)
    assert len(small) == 10 and small.attrs["dropped"] == len(full) - 10
    gen = small[small["set"] == "generated"]
    assert len(gen) == 5 and (small["set"] == "seed").sum() == 5  # half the budget each
    sizes = full[full["set"] == "generated"].groupby("generation").size()
    for g, n in sizes.items():
        assert abs((gen["generation"] == g).sum() - 5 * n / n_gen) < 1
    np.testing.assert_array_equal(
        small[["x", "y"]].to_numpy(), full.loc[small["key"], ["x", "y"]].to_numpy()
    )
    assert run_map(store, run_id, max_points=10)["key"].tolist() == small["key"].tolist()
    # seeds keep at least half the budget; the other half fits every generated point here
    half = run_map(store, run_id, max_points=2 * n_gen)
    assert (half["set"] == "generated").sum() == n_gen == (half["set"] == "seed").sum()
    with pytest.raises(ConfigError, match="max_points"):
        run_map(store, run_id, max_points=0)
    with pytest.raises(NotFoundError):
        run_map(store, "no-such-run")


def test_generation_curves_match_the_records(runs):
    store, (run_id, _) = runs
    curves = generation_curves(store, run_id)
    records = [r for r in store.generation_metrics(run_id) if "novelty" in r["metrics"]]
    assert list(curves.columns) == list(CURVE_COLUMNS) and len(curves) == len(records) == 2
    for (_, row), rec in zip(curves.iterrows(), records, strict=True):
        m = rec["metrics"]
        assert row["generation"] == rec["generation"]
        assert row["verified_total"] == rec["verified_total"]
        assert row["novelty_mean"] == m["novelty"]["mean"]
        assert row["novelty_low"] <= row["novelty_mean"] <= row["novelty_high"]
        assert row["diversity_generated_high"] == m["diversity"]["candidate"]["high"]
        assert row["diversity_seeds_low"] == m["diversity"]["reference"]["low"]
        cal = m["calibrated"]["all"]
        assert row["calibrated_n"] == cal["n"] == min(rec["verified_total"], 164 // 2)
        assert row["fits"] == 2 and row["draws"] == 2
        assert row["novelty_excess_mean"] == cal["novelty_excess"]["mean"]
        assert row["novelty_excess_low"] <= row["novelty_excess_mean"] <= row["novelty_excess_high"]
        assert row["diversity_excess_mean"] == pytest.approx(
            cal["diversity"]["mean"] - cal["diversity_null"]["mean"]
        )
    # this generation's problems only: their own common N
    per_gen = generation_curves(store, run_id, scope="generation")
    for (_, row), rec in zip(per_gen.iterrows(), records, strict=True):
        cal = rec["metrics"]["calibrated"]["generation"]
        assert row["calibrated_n"] == cal["n"] <= row["calibrated_n"]
        assert (row["too_few"] is None or pd.isna(row["too_few"])) == (cal["too_few"] is None)
    with pytest.raises(ConfigError, match="scope"):
        generation_curves(store, run_id, scope="everything")
    fresh = runner.create_run(store, load_run_config(overrides=SMALL))
    empty = generation_curves(store, fresh.id)
    assert empty.empty and list(empty.columns) == list(CURVE_COLUMNS)


def test_topic_coverage_equals_the_last_generation_record(runs):
    store, (run_id, _) = runs
    frame = topic_coverage_frame(store, run_id).set_index("topic")
    recorded = store.generation_metrics(run_id)[-1]["topic_coverage"]
    for column, shares in (("seeds", recorded["seeds"]), ("generated", recorded["generated"])):
        for topic, share in shares.items():
            assert frame[column].get(topic, 0.0) == pytest.approx(share)
    assert ((frame["seeds"] > 0) | (frame["generated"] > 0)).all()


def test_operator_yield_sums_the_generation_counts(runs):
    store, (run_id, _) = runs
    table = operator_yield(store, run_id).set_index("operator")
    assert list(table.reset_index().columns) == list(YIELD_COLUMNS)
    records = store.generation_metrics(run_id)
    for op in ("mutation-easy", "mutation-medium", "mutation-hard", "crossover"):
        counts = [r["operators"][op] for r in records]
        assert table.loc[op, "proposed"] == sum(c["proposed"] for c in counts)
        assert table.loc[op, "kept"] == sum(c["kept"] for c in counts)
        assert table.loc[op, "verified"] == sum(c["passed"] for c in counts)
    total = {k: sum(r["totals"][k] for r in records) for k in ("proposed", "kept", "passed")}
    assert table.loc["all", ["proposed", "kept", "verified"]].tolist() == list(total.values())
    assert table.loc["all", "verified_pct"] == pytest.approx(100 * total["passed"] / total["kept"])
    bench = runner.benchmark_problems(store, run_id)
    assert table.loc["all", "benchmark"] == len(bench) == table["benchmark"].drop("all").sum()
    # Δnovelty of all benchmark problems, recomputed with full distance matrices
    emb = Embedder(store=store)
    s = emb.encode([p.problem for p in store.seed_set_problems("bundled")]).astype(float)
    b = emb.encode([sp.problem.problem for sp in bench]).astype(float)
    ss = 1 - s @ s.T
    np.fill_diagonal(ss, np.inf)
    expected = (1 - b @ s.T).min(axis=1).mean() - ss.min(axis=1).mean()
    assert table.loc["all", "delta_novelty"] == pytest.approx(expected)


def test_operator_yield_counts_the_generation_in_progress(runs):
    store, _ = runs
    run = runner.create_run(store, load_run_config(overrides=SMALL))
    counts = {"proposed": 3, "kept": 2, "passed": 1, "prompt_tokens": 10, "completion_tokens": 5}
    store.save_run_state(run.id, {"generation": 1, "counts": {"operators": {"crossover": counts}}})
    row = operator_yield(store, run.id).set_index("operator").loc["crossover"]
    assert row[["proposed", "kept", "verified", "tokens"]].tolist() == [3, 2, 1, 15]
    assert row["tokens_per_verified"] == 15 and row["verified_pct"] == 50
    assert row["benchmark"] == 0 and np.isnan(row["delta_novelty"])


def test_lineage_links_parents_and_children(runs):
    store, (run_id, _) = runs
    problems = store.problems(run_id=run_id)
    child = next(sp for sp in problems if sp.problem.origin.parents)
    lin = lineage(store, child.pk, run_id=run_id)
    assert lin["key"] == f"run:{child.pk}" and lin["problem"].problem.id == child.problem.id
    assert [i["stored"].problem.id for i in lin["parents"]] == list(child.problem.origin.parents)
    assert not lin["missing_parents"]
    assert lineage(store, f"run:{child.pk}")["parents"] == lin["parents"]  # run found by search
    parent = lin["parents"][0]
    up = lineage(store, parent["key"], run_id=run_id)
    assert f"run:{child.pk}" in [c["key"] for c in up["children"]]
    assert up["set"] == parent["set"]
    with pytest.raises(ConfigError, match="run_id"):
        lineage(store, "seed:seed-001")
    with pytest.raises(NotFoundError):
        lineage(store, 10**9)
    with pytest.raises(NotFoundError):
        lineage(store, "seed:not-a-seed", run_id=run_id)


def test_compare_runs_with_k_farthest_on_and_off(runs):
    store, ids = runs
    table = compare_runs(store, ids)
    assert list(table["run"]) == ids and list(table["k_farthest"]) == [True, False]
    for _, row in table.iterrows():
        y = operator_yield(store, row["run"]).set_index("operator").loc["all"]
        assert row["kept"] == y["kept"] and row["passed"] == y["verified"]
        assert row["pass_rate"] == pytest.approx(y["verified"] / y["kept"])
        assert row["verified"] == len(runner.benchmark_problems(store, row["run"]))
        curves = generation_curves(store, row["run"])
        if curves.empty:
            assert pd.isna(row["novelty_mean"])
        else:
            assert row["novelty_mean"] == curves["novelty_mean"].iloc[-1]
            assert row["diversity_high"] == curves["diversity_generated_high"].iloc[-1]
    topics = topic_coverage_compare(store, ids).set_index("topic")
    assert list(topics.columns) == ids
    for run_id in ids:
        shares = coverage([sp.problem.topics for sp in runner.benchmark_problems(store, run_id)])
        for topic, share in shares.items():
            assert topics[run_id].get(topic, 0.0) == pytest.approx(share)
    with pytest.raises(NotFoundError):
        compare_runs(store, [ids[0], "no-such-run"])
