"""infosynth_core.compare on real offline runs: stored calibrated values are compared only at
one N and with the same seeds and metric settings, refusals name the setting and each run's
value, and a joint re-measure puts any runs in one fit at one N."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from test_explore import finished_runs

from infosynth_core import ConfigError, Store
from infosynth_core.compare import calibrated_compare, comparability, measure_together
from infosynth_core.config import MetricsConfig
from infosynth_core.runner import benchmark_problems

SMALL_METRICS = MetricsConfig(runs=2, draws=2, min_n=6)


@pytest.fixture(scope="module")
def runs_db(tmp_path_factory):
    return finished_runs(tmp_path_factory, "compare")


@pytest.fixture
def runs(runs_db, tmp_path):
    from test_explore import copy_store

    db, ids = runs_db
    store = Store(copy_store(db, tmp_path / "store.db"))
    yield store, ids, tmp_path / "store.db"
    store.close()


def _set_config(db, run_id: str, path: str, value) -> None:
    with sqlite3.connect(db) as con:
        con.execute(
            "UPDATE runs SET config = json_set(config, ?, json(?)) WHERE id = ?",
            (f"$.{path}", json.dumps(value), run_id),
        )
    con.close()


def _set_n(store: Store, run_id: str, n: int) -> None:
    last = store.generation_metrics(run_id)[-1]
    m = last["metrics"]
    cal = {**m["calibrated"]["all"], "n": n}
    store.record_generation(
        run_id, last["generation"], {**last, "metrics": {**m, "calibrated": {"all": cal}}}
    )


def test_calibrated_compare_reads_each_runs_last_measured_generation(runs):
    store, ids, _ = runs
    table = calibrated_compare(store, ids)
    assert list(table["run"]) == ids
    for run_id, row in zip(ids, table.itertuples(), strict=True):
        last = store.generation_metrics(run_id)[-1]
        cal = last["metrics"]["calibrated"]["all"]
        assert row.generation == last["generation"] and row.n == cal["n"]
        assert row.verified == len(benchmark_problems(store, run_id))
        if cal.get("too_few") is None:
            assert row.novelty_excess_mean == pytest.approx(cal["novelty_excess"]["mean"])
            assert row.diversity_excess_low == pytest.approx(cal["diversity_excess"]["low"])


def test_comparability_of_runs_with_the_same_seeds_and_settings_at_one_n(runs):
    store, ids, _ = runs
    for run_id in ids:
        _set_n(store, run_id, 12)
    comp = comparability(store, ids)
    assert comp.comparable and comp.reasons == [] and comp.common_n == 12


def test_comparability_refuses_different_n_naming_each_run(runs):
    store, ids, _ = runs
    _set_n(store, ids[0], 12)
    _set_n(store, ids[1], 9)
    comp = comparability(store, ids)
    assert not comp.comparable and comp.common_n is None
    assert comp.reasons == [f"measured at different N ({ids[0]}: N = 12, {ids[1]}: N = 9)"]


@pytest.mark.parametrize(
    ("path", "value", "what"),
    [
        ("seed_set", "other-seeds", "seed set"),
        ("metrics.dim", 5, "projection dimension"),
        ("metrics.k", 3, "k (k-NN order)"),
        ("metrics.embedding_model", "all-mpnet-base-v2", "embedding model"),
    ],
)
def test_comparability_refuses_different_seeds_or_metric_settings(runs, path, value, what):
    store, ids, db = runs
    for run_id in ids:
        _set_n(store, run_id, 12)
    before = store.get_run(ids[0]).config
    _set_config(db, ids[1], path, value)
    comp = comparability(store, ids)
    assert not comp.comparable
    (reason,) = comp.reasons
    first = before["seed_set"] if path == "seed_set" else MetricsConfig().model_dump()[
        path.split(".")[1]
    ]
    assert reason == f"different {what} (`{path}`): {ids[0]}: {first!r}, {ids[1]}: {value!r}"


def test_comparability_notes_different_numbers_of_fits(runs):
    store, ids, _ = runs
    for run_id in ids:
        _set_n(store, run_id, 12)
    last = store.generation_metrics(ids[1])[-1]
    store.record_generation(
        ids[1], last["generation"], {**last, "metrics": {**last["metrics"], "umap_runs": 10}}
    )
    comp = comparability(store, ids)
    assert comp.comparable
    assert comp.notes == ["intervals come from different numbers of UMAP fits (2, 10)"]


def test_measure_together_puts_runs_with_different_seed_sets_in_one_fit_at_one_n(runs):
    store, ids, db = runs
    bundled = store.seed_set_problems("bundled")
    store.create_seed_set(
        "first-half", bundled[: len(bundled) // 2], source="test", format="jsonl"
    )
    _set_config(db, ids[1], "seed_set", "first-half")
    assert not comparability(store, ids).comparable
    seen = []
    table = measure_together(
        store, ids, metrics=SMALL_METRICS, random_state=3, progress=lambda d, t: seen.append(d)
    )
    assert seen == [1, 2]
    sizes = [len(benchmark_problems(store, r)) for r in ids]
    # the union of the seed sets is the bundled set: N is capped by half of it and by the
    # smallest run
    common = min(min(sizes), len(bundled) // 2, SMALL_METRICS.max_n)
    assert list(table["run"]) == ids and list(table["verified"]) == sizes
    assert list(table["n"]) == [common, common]
    assert list(table["fits"]) == [2, 2] and list(table["draws"]) == [2, 2]
    for col in ("novelty_excess_mean", "diversity_excess_mean"):
        assert np.isfinite(table[col]).all()
    assert (table["novelty_excess_low"] <= table["novelty_excess_mean"]).all()
    assert (table["diversity_excess_high"] >= table["diversity_excess_mean"]).all()


def test_measure_together_says_too_few_for_a_run_below_min_n(runs):
    store, ids, _ = runs
    big, small = (len(benchmark_problems(store, r)) for r in ids)
    assert big > small  # the first fixture run has two generations, the second one
    table = measure_together(store, ids, metrics=MetricsConfig(runs=1, draws=2, min_n=big))
    rows = table.set_index("run")
    assert "too few to measure" in rows.loc[ids[1], "too_few"]
    assert np.isnan(rows.loc[ids[1], "novelty_excess_mean"])
    # the common N leaves the run that is too small out
    assert rows.loc[ids[0], "n"] == min(big, len(store.seed_set_problems("bundled")) // 2)
    assert np.isfinite(rows.loc[ids[0], "novelty_excess_mean"])
    assert np.isnan(rows.loc[ids[0], "novelty_excess_low"])  # one fit: no interval


def test_measure_together_needs_two_runs(runs):
    store, ids, _ = runs
    with pytest.raises(ConfigError, match="at least two runs"):
        measure_together(store, ids[:1])
