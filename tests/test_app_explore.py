"""Streamlit AppTest of the Explore and Compare pages, run inside app.py's navigation: empty
states, a finished run's map, curves, coverage and yield, opening a problem, comparing runs."""

from __future__ import annotations

import os

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest
from test_explore import copy_store, finished_runs

from infosynth_core import Store, runner
from infosynth_core.compare import calibrated_compare
from infosynth_core.config import load_run_config
from infosynth_core.projection import warm_up

OPERATORS = ["mutation-easy", "mutation-medium", "mutation-hard", "crossover", "all"]


@pytest.fixture(scope="module")
def runs_db(tmp_path_factory):
    db, ids = finished_runs(tmp_path_factory, "app-explore")
    warm_up(background=False)  # UMAP's JIT compile, once, outside the page's timeout
    return db, ids


@pytest.fixture
def with_runs(runs_db, tmp_path, monkeypatch):
    db, ids = runs_db
    monkeypatch.setenv("INFOSYNTH_DB", str(copy_store(db, tmp_path / "app.db")))
    monkeypatch.chdir(ROOT)
    return ids


@pytest.fixture
def empty_store(tmp_path, monkeypatch):
    db = tmp_path / "empty.db"
    monkeypatch.setenv("INFOSYNTH_DB", str(db))
    monkeypatch.chdir(ROOT)
    return db


def _run(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _charts(at: AppTest) -> list:
    return at.get("plotly_chart")


def _frame(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_explore_without_runs_says_where_to_start(empty_store):
    at = _run("pages/explore.py")
    assert at.title[0].value == "Explore"
    info = " ".join(i.value for i in at.info)
    assert "No runs yet" in info and "Synthesize" in info
    assert not _charts(at)


def test_compare_needs_two_runs(empty_store):
    store = Store(empty_store)
    runner.create_run(store, load_run_config(overrides={"generations": 1}))
    at = _run("pages/compare.py")
    info = " ".join(i.value for i in at.info)
    assert "at least two runs" in info and "has 1" in info


def test_explore_shows_a_finished_run(with_runs):
    first, newest = with_runs
    at = _run("pages/explore.py")
    assert at.selectbox(key="explore_run").value == newest  # newest by default
    at.selectbox(key="explore_run").select(first).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.query_params["run"] == first
    # map, novelty, diversity and topic coverage
    assert len(_charts(at)) == 4
    assert at.radio(key="explore_color").value == "generation"
    assert at.slider(key="explore_generation").value == 2  # the last generation
    table = _frame(at, "delta_novelty")
    assert list(table["operator"]) == OPERATORS
    assert not at.info  # no empty state: the run has metrics
    at.radio(key="explore_color").set_value("operator").run()
    at.slider(key="explore_generation").set_value(1).run()
    assert not at.exception and len(_charts(at)) == 4


def test_explore_curves_are_calibrated_and_say_what_they_measure(with_runs):
    first, _ = with_runs
    at = _run("pages/explore.py", {"run": first})
    assert at.radio(key="explore_curve_view").value == "calibrated"
    captions = " ".join(c.value for c in at.caption)
    assert "Excess over the null, for all problems verified so far" in captions
    assert "over 2 UMAP fits × 2 draws at N =" in captions
    titles = [c.proto.spec for c in _charts(at)]
    assert any("Novelty beyond the seeds" in t for t in titles)
    at.radio(key="explore_curve_scope").set_value("generation").run()
    assert not at.exception, [e.message for e in at.exception]
    captions = " ".join(c.value for c in at.caption)
    assert "for each generation's problems" in captions or "too few to measure" in captions
    at.radio(key="explore_curve_view").set_value("raw").run()
    assert not at.exception, [e.message for e in at.exception]
    captions = " ".join(c.value for c in at.caption)
    assert "Raw values for all problems verified so far" in captions
    assert "not comparable between sets of different sizes" in captions
    assert any("Raw novelty" in c.proto.spec for c in _charts(at))


def test_explore_opens_a_problem_with_its_lineage(with_runs):
    first, _ = with_runs
    at = _run("pages/explore.py", {"run": first})
    assert at.selectbox(key="explore_run").value == first  # from ?run=
    problems = Store(os.environ["INFOSYNTH_DB"]).problems(run_id=first)
    child = next(sp.problem for sp in problems if sp.problem.origin.parents)
    at.text_input(key="explore_problem_id").input(child.id).run()
    assert not at.exception, [e.message for e in at.exception]
    parents = _frame(at, "set")
    assert list(parents["id"]) == list(child.origin.parents)
    assert any(child.id in m.value for m in at.markdown)


def test_explore_without_metrics_yet_says_when_they_come(with_runs):
    store = Store(os.environ["INFOSYNTH_DB"])
    fresh = runner.create_run(store, load_run_config(overrides={"generations": 1}))
    at = _run("pages/explore.py", {"run": fresh.id})
    info = " ".join(i.value for i in at.info)
    assert "after the first generation with ≥ k + 2 = 6 verified problems" in info
    assert len(_charts(at)) == 2  # the map of the seeds and their topic coverage


def test_compare_two_runs(with_runs):
    first, newest = with_runs
    at = _run("pages/compare.py")
    assert at.multiselect(key="compare_runs").value == [newest, first]
    table = _frame(at, "pass_rate")
    assert list(table["run"]) == [newest, first]
    assert list(table["k_farthest"]) == [False, True]
    # the two runs' stored values are at different N (different sizes): refused, with why
    stored = calibrated_compare(Store(os.environ["INFOSYNTH_DB"]), [newest, first])
    assert stored["n"].nunique() == 2
    warning = " ".join(w.value for w in at.warning)
    assert "cannot be compared as stored" in warning and "measured at different N" in warning
    assert len(_charts(at)) == 2  # pass rates, topic coverage: no novelty/diversity scatter
    at.button(key="compare_measure_together").click().run(timeout=300)
    assert not at.exception, [e.message for e in at.exception]
    captions = " ".join(c.value for c in at.caption)
    assert "Measured together" in captions and "every run at N = " in captions
    assert "over 2 UMAP fits × 2 draws" in captions  # the first run's metric settings
    assert any("novelty beyond the seeds" in c.proto.spec for c in _charts(at))
    at.multiselect(key="compare_runs").unselect(first).run()
    assert "at least two runs" in " ".join(i.value for i in at.info)


def test_compare_runs_with_the_same_settings_at_one_n(with_runs):
    first, newest = with_runs
    store = Store(os.environ["INFOSYNTH_DB"])
    n = int(calibrated_compare(store, [first, newest])["n"].min())
    for run_id in (first, newest):  # as two runs large enough to reach the cap would be
        last = store.generation_metrics(run_id)[-1]
        m = last["metrics"]
        cal = {**m["calibrated"]["all"], "n": n}
        store.record_generation(
            run_id, last["generation"], {**last, "metrics": {**m, "calibrated": {"all": cal}}}
        )
    at = _run("pages/compare.py")
    assert not at.warning
    captions = " ".join(c.value for c in at.caption)
    assert f"at a common N = {n}: excess over held-out seeds" in captions
    assert len(_charts(at)) == 3  # novelty vs diversity, pass rates, topic coverage


def test_explore_refreshes_while_the_run_is_running(with_runs):
    first, _ = with_runs
    store = Store(os.environ["INFOSYNTH_DB"])
    store.update_run(first, status="running", pid=os.getpid())  # a live process owns it
    at = _run("pages/explore.py", {"run": first})
    captions = " ".join(c.value for c in at.caption)
    assert "The run is running: this view refreshes every" in captions
    assert len(_charts(at)) == 4


def test_explore_says_which_generations_are_still_being_measured(with_runs):
    first, _ = with_runs
    store = Store(os.environ["INFOSYNTH_DB"])
    last = store.generation_metrics(first)[-1]
    store.record_generation(
        first, last["generation"], {**last, "metrics": {"pending": "measuring in the background"}}
    )
    at = _run("pages/explore.py", {"run": first})
    captions = " ".join(c.value for c in at.caption)
    assert (
        f"Generation {last['generation']}: novelty and diversity are being measured in the "
        "background" in captions
    )
    assert any("Novelty beyond the seeds" in c.proto.spec for c in _charts(at))  # the others
