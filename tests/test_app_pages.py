"""Streamlit AppTest: every page renders without exceptions, and the Seeds flows work."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from infosynth_core import Store, load_bundled_seeds

PAGES = [
    "pages/runs.py",
    "pages/seeds.py",
    "pages/synthesize.py",
    "pages/explore.py",
    "pages/review.py",
    "pages/compare.py",
    "pages/evaluate.py",
]


@pytest.fixture(autouse=True)
def fresh_store(tmp_path, monkeypatch) -> Path:
    db = tmp_path / "app.db"
    monkeypatch.setenv("INFOSYNTH_DB", str(db))
    monkeypatch.chdir(ROOT)
    return db


def _run(page: str = "pages/runs.py") -> AppTest:
    """Open the app (pages run inside its navigation, as in the browser) and go to ``page``."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    if page != "pages/runs.py":  # the default page
        at.switch_page(page).run()
        assert not at.exception, [e.message for e in at.exception]
    return at


def _frame(at: AppTest, column: str, nth: int = 0):
    """The nth dataframe on the page that has ``column``."""
    frames = [d.value for d in at.dataframe if column in d.value.columns]
    return frames[nth]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_exceptions(page):
    _run(page)


def test_runs_overview_empty_state_says_what_to_do(fresh_store):
    at = _run()
    assert at.title[0].value == "Runs"
    info = " ".join(i.value for i in at.info)
    assert "No runs yet" in info and "Seeds" in info
    n_bundled = len(load_bundled_seeds().problems)
    assert [m.value for m in at.metric] == ["0", "1", str(n_bundled)]


def test_runs_overview_lists_runs(fresh_store):
    store = Store(fresh_store)
    from infosynth_core import ensure_bundled_seed_set

    ensure_bundled_seed_set(store)
    store.create_run(run_id="r-42", seed_set="bundled", config={}, name="demo run")
    at = _run("pages/runs.py")
    assert not at.info
    df = _frame(at, "run")
    assert list(df["run"]) == ["r-42"] and list(df["seed set"]) == ["bundled"]


def test_seeds_page_lists_bundled_set_on_first_start():
    at = _run("pages/seeds.py")
    saved = _frame(at, "name")
    assert list(saved["name"]) == ["bundled"]
    preview = _frame(at, "statement")
    assert len(preview) == len(load_bundled_seeds().problems)
    assert {"statement", "topics", "difficulty"} <= set(preview.columns)


def test_seeds_page_saves_bundled_copy_and_reports_name_clash(fresh_store):
    at = _run("pages/seeds.py")
    assert at.radio(key="seeds_source").value == "Bundled seeds"
    at.text_input(key="seeds_name").input("my-copy")
    at.button(key="seeds_save").click().run()
    assert not at.exception
    assert any("Saved" in s.value and "my-copy" in s.value for s in at.success)
    assert [s.name for s in Store(fresh_store).list_seed_sets()] == ["bundled", "my-copy"]
    # same name again: the error shows in place, the store is unchanged
    at.text_input(key="seeds_name").input("my-copy")
    at.button(key="seeds_save").click().run()
    assert not at.exception
    assert any("already exists" in e.value for e in at.error)
    assert len(Store(fresh_store).list_seed_sets()) == 2


def test_seeds_page_upload_mode_waits_for_a_file():
    at = _run("pages/seeds.py")
    at.radio(key="seeds_source").set_value("Upload a file").run()
    assert not at.exception
    assert any("Choose a file" in i.value for i in at.info)
    assert at.selectbox(key="seeds_format").options[0] == "auto"


def test_app_navigation_reaches_the_seeds_page():
    at = _run("pages/seeds.py")
    assert at.title[0].value == "Seeds"


def test_seeds_page_inspects_a_problem_in_full():
    at = _run("pages/seeds.py")
    first = load_bundled_seeds().problems[0]
    assert at.selectbox(key="seeds_inspect_id").value == first.id
    codes = {c.value.strip() for c in at.code}  # st.code drops trailing newlines
    assert {first.problem.strip(), first.solution.strip(), first.tests.strip()} <= codes


def test_seeds_page_deletes_a_seed_set_after_confirmation(fresh_store):
    at = _run("pages/seeds.py")
    at.text_input(key="seeds_name").input("scratch")
    at.button(key="seeds_save").click().run()
    at.selectbox(key="seeds_view_set").set_value("scratch").run()
    assert at.button(key="seeds_delete").disabled
    at.checkbox(key="seeds_delete_confirm").check().run()
    at.button(key="seeds_delete").click().run()
    assert not at.exception
    assert any("Deleted seed set 'scratch'" in s.value for s in at.success)
    assert [s.name for s in Store(fresh_store).list_seed_sets()] == ["bundled"]


def test_seeds_page_refuses_to_delete_a_set_a_run_uses(fresh_store):
    at = _run("pages/seeds.py")
    Store(fresh_store).create_run(run_id="r1", seed_set="bundled", config={})
    at.checkbox(key="seeds_delete_confirm").check().run()
    at.button(key="seeds_delete").click().run()
    assert not at.exception
    assert any("used by run(s) r1" in e.value for e in at.error)
    assert Store(fresh_store).has_seed_set("bundled")


def test_runs_overview_reports_the_sandbox_isolation_level():
    from infosynth_core.sandbox import detect_isolation

    at = _run()
    text = " ".join(c.value for c in at.caption) + " ".join(w.value for w in at.warning)
    expected = (
        "kernel isolation (bubblewrap)" if detect_isolation() == "bubblewrap" else "process-level"
    )
    assert expected in text


def test_seeds_page_map_of_the_set_coloured_by_topic(fresh_store):
    at = _run("pages/seeds.py")
    at.toggle(key="seeds_map").set_value(True).run()
    assert not at.exception, [e.message for e in at.exception]
    chart = at.get("plotly_chart")[0]
    import json

    spec = json.loads(chart.proto.spec)
    topics = {trace["name"] for trace in spec["data"]}
    assert len(topics) >= 10  # one trace per topic
    n_points = sum(len(trace["hovertext"]) for trace in spec["data"])  # x, y are binary
    assert n_points == len(load_bundled_seeds().problems)


def test_seeds_page_runs_the_metrics_sanity_check_on_a_topic():
    at = _run("pages/seeds.py")
    assert at.selectbox(key="seeds_check_topic").options == ["String (32)"]
    at.number_input(key="seeds_check_fits").set_value(2).run()
    at.button(key="seeds_check_run").click().run(timeout=300)
    assert not at.exception, [e.message for e in at.exception]
    verdict = " ".join(s.value for s in at.success) + " ".join(w.value for w in at.warning)
    assert "the 32 'String' problems" in verdict
    table = _frame(at, "measure (nats)")
    assert list(table.columns) == [
        "measure (nats)",
        "'String' subset",
        "random subsets (control)",
        "excess",
    ]
    captions = " ".join(c.value for c in at.caption)
    assert "N = 32 of 32 'String' problems against 132 others; 2 UMAP fits × 10 draws" in captions


def test_runs_page_says_how_runs_are_capped():
    from infosynth_core.sandbox import detect_caps

    at = _run()
    captions = " ".join(c.value for c in at.caption)
    if detect_caps() == "rlimit":
        assert "No kernel cap on a run's processes and memory as a whole" in captions
    else:
        assert f"Each run is capped by the kernel ({detect_caps()})" in captions
