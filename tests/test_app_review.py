"""The Review page through the app's navigation (Streamlit AppTest): empty state, picking a
run and a problem, bulk and single decisions, an edit re-verified in the sandbox, export.

AppTest cannot click table rows or draw a lasso; it sets the widgets' selection state
(``review_table_<rows>_<n>``, ``review_map_<n>``; n grows with each bulk decision) the way the browser reports it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from infosynth_core import Store, load_problems, runner
from infosynth_core.config import load_run_config
from infosynth_core.explore import run_map

SMALL_RUN = {
    "generations": 1,
    "colonies": 2,
    "seeds_per_colony": 6,
    "steps_per_generation": 2,
    "feedback_rounds": 1,
    "metrics": {"enabled": False},
}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, str]:
    """One finished offline run per module; each test gets a copy of its store."""
    db = tmp_path_factory.mktemp("app-review") / "template.db"
    store = Store(db)
    run = runner.create_run(store, load_run_config(overrides=SMALL_RUN))
    runner.execute(store, run.id)
    run_map(store, run.id)  # embeds the statements once (cached in the store) and warms UMAP
    store.close()
    return db, run.id


@pytest.fixture(autouse=True)
def in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.fixture
def empty_store(tmp_path, monkeypatch) -> Path:
    db = tmp_path / "store" / "app.db"
    monkeypatch.setenv("INFOSYNTH_DB", str(db))
    return db


@pytest.fixture
def run(template, empty_store) -> tuple[Path, str]:
    db, run_id = template
    empty_store.parent.mkdir(parents=True)
    src, dst = sqlite3.connect(db), sqlite3.connect(empty_store)
    src.backup(dst)  # reads through the WAL, unlike a file copy
    src.close()
    dst.close()
    return empty_store, run_id


def _open(query: dict | None = None, **state) -> AppTest:
    """The app, switched to the Review page, with ``state`` set before the page runs."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params.update(query or {})
    at.run()
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page("pages/review.py").run()
    _ok(at)
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _select_rows(at: AppTest, rows: list[int]) -> None:
    """Select table rows as the browser reports it (the key changes with the row set)."""
    key = next(d.key for d in at.dataframe if (d.key or "").startswith("review_table_"))
    at.session_state[key] = {"selection": {"rows": rows, "columns": []}}


def _texts(elements) -> str:
    return " ".join(e.value for e in elements)


def _problems(db: Path, run_id: str):
    store = Store(db)
    try:
        return store.problems(run_id=run_id)
    finally:
        store.close()


def test_empty_state_without_runs_points_to_synthesize(empty_store):
    at = _open()
    assert at.title[0].value == "Review"
    info = _texts(at.info)
    assert "No runs to review yet" in info and "Synthesize" in info


def test_picks_the_run_lists_problems_and_shows_one_in_full(run):
    db, run_id = run
    at = _open()
    problems = _problems(db, run_id)
    assert at.selectbox(key="review_run").value == run_id
    assert at.query_params["run"] == [run_id] or at.query_params["run"] == run_id
    table = next(d.value for d in at.dataframe if "review" in d.value.columns)
    assert table["id"].tolist() == [sp.problem.id for sp in problems]
    first = problems[0].problem
    assert at.selectbox(key="review_problem").value == problems[0].pk
    codes = {c.value.strip() for c in at.code}
    assert {first.problem.strip(), first.solution.strip(), first.tests.strip()} <= codes
    assert any(e.label.startswith("Round 0") for e in at.expander)  # attempts with output
    assert any(c.language == "diff" and c.value.startswith("---") for c in at.code)
    assert "Nothing accepted yet" in _texts(at.info)
    # the search narrows the table and the picker
    at.text_input(key="review_search").input(problems[-1].problem.id.upper()).run()
    _ok(at)
    picker = at.selectbox(key="review_problem")
    assert picker.value == problems[-1].pk and len(picker.options) == 1
    at.text_input(key="review_search").input("no such text anywhere").run()
    _ok(at)
    assert "No problem matches these filters" in _texts(at.info)
    assert "Nothing accepted yet" in _texts(at.info)  # the export section stays


def test_the_address_picks_the_run(run):
    db, run_id = run
    store = Store(db)
    store.create_run(run_id="r-newer", seed_set="bundled", config={}, name="just started")
    store.close()
    at = _open()  # newest first: the run without problems yet
    assert at.selectbox(key="review_run").value == "r-newer"
    assert "no problems yet" in _texts(at.info)
    at = _open(query={"run": run_id})
    assert at.selectbox(key="review_run").value == run_id
    assert at.selectbox(key="review_problem").options


def test_unknown_run_in_the_address_is_reported(run):
    at = _open(query={"run": "no-such-run"})
    assert "no-such-run" in _texts(at.warning)
    assert at.selectbox(key="review_run").value == run[1]


def test_accept_the_picked_problem_then_bulk_reject_the_table_selection(run):
    db, run_id = run
    problems = _problems(db, run_id)
    at = _open()
    target = problems[1].pk
    at.selectbox(key="review_problem").set_value(target).run()
    at.text_input(key="review_one_note").input("clear and tested")
    at.button(key="review_one_accepted").click().run()
    _ok(at)
    assert "Accept: 1 problem(s), 1 changed" in _texts(at.success)
    after = {sp.pk: sp.problem.review for sp in _problems(db, run_id)}
    assert after[target] == "accepted"
    assert sum(v == "accepted" for v in after.values()) == 1
    assert at.button(key="review_one_accepted").disabled  # the state is visible
    # bulk: two table rows selected
    _select_rows(at, [0, 2])
    at.run()
    assert "**2 selected** (2 in the table, 0 on the map)" in _texts(at.markdown)
    at.button(key="review_bulk_rejected").click().run()
    _ok(at)
    after = {sp.pk: sp.problem.review for sp in _problems(db, run_id)}
    assert after[problems[0].pk] == after[problems[2].pk] == "rejected"
    assert after[target] == "accepted"
    # other filters, other rows: the selection does not move onto other problems
    at.text_input(key="review_search").input(problems[3].problem.id).run()
    _ok(at)
    assert "**0 selected**" in _texts(at.markdown)
    assert at.button(key="review_bulk_accepted").disabled


def test_edit_is_reverified_and_a_broken_solution_fails(run):
    db, run_id = run
    sp = _problems(db, run_id)[0]
    at = _open()
    statement = sp.problem.problem + "\n\nInputs are never modified."
    at.text_area(key="review_edit_statement").input(statement)
    at.button(key="review_edit_save").click().run()
    _ok(at)
    assert "re-verified: **passed**" in _texts(at.success)
    stored = _problems(db, run_id)[0]
    assert stored.problem.problem == statement and stored.problem.origin.operator == "edit"
    store = Store(db)
    assert len(store.attempts(sp.pk)) == 2 and store.reviews(sp.pk)[-1]["decision"] == "edited"
    # break the solution: the verdict is shown and stored
    name = sp.problem.entry_point
    at.text_area(key="review_edit_solution").input(
        sp.problem.solution + f"\n\ndef {name}(*args, **kwargs):\n    return None\n"
    )
    at.button(key="review_edit_save").click().run()
    assert not at.exception
    assert "re-verified: **failed**" in _texts(at.warning)
    assert store.get_problem(sp.pk).problem.status == "failed"
    assert store.attempts(sp.pk)[-1].status == "failed"
    # a blank statement is refused in place; nothing changes
    before = store.get_problem(sp.pk)
    at.text_area(key="review_edit_statement").input("  ")
    at.button(key="review_edit_save").click().run()
    assert not at.exception
    assert "must not be blank" in _texts(at.error)
    assert store.get_problem(sp.pk) == before
    store.close()


def test_export_writes_the_accepted_problems(run):
    db, run_id = run
    problems = _problems(db, run_id)
    exports = db.parent / "exports"
    at = _open()
    _select_rows(at, [0, 1])
    at.run()
    at.button(key="review_bulk_accepted").click().run()
    _ok(at)
    assert at.download_button(key="review_download") is not None
    # by default: a new export in <store folder>/exports, named after the run
    assert at.radio(key="review_export_where").value == "exports"
    assert at.selectbox(key="review_export_target").value == ""
    assert at.text_input(key="review_export_name").value == f"{run_id}-accepted"
    at.button(key="review_export").click().run()
    _ok(at)
    out = exports / f"{run_id}-accepted.jsonl"
    assert out.is_file() and str(out) in _texts(at.success)
    assert [p.id for p in load_problems(out).problems] == [sp.problem.id for sp in problems[:2]]
    # the same name again: refused in place, the export untouched
    before = out.read_bytes()
    at.button(key="review_export").click().run()
    assert not at.exception and "already exists" in _texts(at.error)
    assert out.read_bytes() == before
    # the previous export is listed; replacing it is an explicit choice
    _select_rows(at, [2])
    at.run()
    at.button(key="review_bulk_accepted").click().run()
    _ok(at)
    picker = at.selectbox(key="review_export_target")
    assert picker.options[0] == "New export (type a name)" and len(picker.options) == 2
    assert picker.options[1].startswith(f"Replace {out.name} · 2 problem(s)")
    picker.set_value(str(out)).run()
    _ok(at)
    assert "Replaces the previous export" in _texts(at.warning)
    assert at.button(key="review_export").label == "Replace with 3 accepted"
    at.button(key="review_export").click().run()
    _ok(at)
    assert "replacing the previous export" in _texts(at.success)
    assert len(load_problems(out).problems) == 3
    # Parquet, with its own default name (its manifest must not collide with the JSONL one)
    at.selectbox(key="review_export_format").set_value("parquet").run()
    assert at.selectbox(key="review_export_target").value == ""  # no parquet export yet
    assert at.text_input(key="review_export_name").value == f"{run_id}-accepted-parquet"
    at.button(key="review_export").click().run()
    _ok(at)
    assert len(load_problems(exports / f"{run_id}-accepted-parquet.parquet").problems) == 3
    assert sorted(p.name for p in exports.iterdir()) == sorted(
        [
            out.name,
            f"{run_id}-accepted.manifest.json",
            f"{run_id}-accepted-parquet.parquet",
            f"{run_id}-accepted-parquet.manifest.json",
        ]
    )


def test_export_with_a_test_strength_threshold_leaves_weak_tests_out(run):
    from infosynth_core.strength import score_of

    db, run_id = run
    problems = _problems(db, run_id)
    at = _open()
    _select_rows(at, list(range(len(problems))))
    at.run()
    at.button(key="review_bulk_accepted").click().run()
    _ok(at)
    scores = [score_of(sp.problem) for sp in problems]
    cut = sorted(s for s in scores if s is not None)[len(problems) // 2]
    percent = int(cut * 100) // 5 * 5  # the slider moves in steps of 5%
    assert percent > 0, "the fixture run needs tests that reject some mutants"
    strong = [
        sp.problem.id
        for sp, s in zip(problems, scores, strict=True)
        if s is not None and s >= percent / 100
    ]
    assert 0 < len(strong) < len(problems)
    at.slider(key="review_export_min_strength").set_value(percent).run()
    _ok(at)
    left = len(problems) - len(strong)
    assert f"{len(strong)} of {len(problems)} accepted problem(s)" in _texts(at.caption)
    assert f"{left} left out" in _texts(at.caption)
    assert at.button(key="review_export").label == f"Export {len(strong)} accepted"
    at.button(key="review_export").click().run()
    _ok(at)
    out = db.parent / "exports" / f"{run_id}-accepted.jsonl"
    assert [p.id for p in load_problems(out).problems] == strong


def test_export_refuses_bad_names_and_never_touches_the_store(run):
    db, run_id = run
    at = _open()
    at.button(key="review_one_accepted").click().run()
    _ok(at)
    # a name with path parts is refused before anything is written
    at.text_input(key="review_export_name").input("../outside").run()
    assert not at.exception and "The export name must hold only letters" in _texts(at.error)
    assert at.button(key="review_export").disabled
    # another folder only through the explicit option; a blank one cannot be exported to
    at.radio(key="review_export_where").set_value("other").run()
    assert at.text_input(key="review_export_folder").value == ""
    assert at.button(key="review_export").disabled
    # the store's own folder, reached as "../store": refused in place by the library guard
    before = {p.name: p.stat().st_size for p in db.parent.iterdir() if p.is_file()}
    at.selectbox(key="review_export_format").set_value("hf").run()
    at.text_input(key="review_export_folder").input("..").run()
    at.text_input(key="review_export_name").input(db.parent.name).run()
    _ok(at)
    assert len(at.selectbox(key="review_export_target").options) == 1  # nothing to replace
    at.button(key="review_export").click().run()
    assert not at.exception
    error = _texts(at.error)
    assert "Refusing to export to" in error and "holds the InfoSynth store" in error
    assert db.is_file() and set(before) <= {p.name for p in db.parent.iterdir()}
    assert len(_problems(db, run_id)) > 1


def test_map_shows_the_run_and_a_lasso_selection_is_acted_on(run):
    db, run_id = run
    problems = _problems(db, run_id)
    at = _open()
    assert at.toggle(key="review_show_map").value
    chart = at.get("plotly_chart")[0]
    assert "scattergl" in chart.proto.spec and "lasso" in chart.proto.spec
    picked = [problems[1].pk, problems[3].pk]
    at.session_state["review_map_0"] = {
        "selection": {
            "points": [
                {"curve_number": 1, "point_index": i, "customdata": [pk]}
                for i, pk in enumerate(picked)
            ],
            "point_indices": [0, 1],
            "box": [],
            "lasso": [{"x": [0, 1, 1], "y": [0, 0, 1]}],
        }
    }
    at.run()
    _ok(at)
    assert "**2 selected** (0 in the table, 2 on the map)" in _texts(at.markdown)
    assert at.selectbox(key="review_problem").value == picked[0]  # the detail follows
    at.button(key="review_bulk_accepted").click().run()
    _ok(at)
    accepted = [sp.pk for sp in _problems(db, run_id) if sp.problem.review == "accepted"]
    assert accepted == picked


def test_a_bulk_decision_clears_the_selection_so_the_next_one_acts_only_on_new_rows(run):
    # Select 5 -> Accept, tick 2 more -> Reject used to reject all 7 (the table kept its rows).
    db, run_id = run
    at = _open()
    _select_rows(at, [0, 1, 2])
    at.run()
    assert "**3 selected**" in _texts(at.markdown)
    at.button(key="review_bulk_accepted").click().run()
    _ok(at)
    assert "**0 selected** (0 in the table, 0 on the map)" in _texts(at.markdown)
    assert at.button(key="review_bulk_rejected").disabled
    _select_rows(at, [3])
    at.run()
    at.button(key="review_bulk_rejected").click().run()
    _ok(at)
    reviews = [sp.problem.review for sp in _problems(db, run_id)]
    assert reviews.count("accepted") == 3 and reviews.count("rejected") == 1



def test_accepting_a_problem_that_did_not_pass_needs_the_override(run):
    db, run_id = run
    store = Store(db)
    sp = store.problems(run_id=run_id)[0]
    store.update_problem(sp.pk, sp.problem.model_copy(update={"status": "unparsable"}))
    store.close()
    at = _open()
    key = next(d.key for d in at.dataframe if (d.key or "").startswith("review_table_"))
    pks = [int(pk) for pk in at.dataframe(key=key).value["pk"]]
    _select_rows(at, [pks.index(sp.pk)])
    at.run()
    at.button(key="review_bulk_accepted").click().run()
    assert not at.exception
    assert any("did not pass" in e.value and sp.problem.id in e.value for e in at.error)
    assert _problems(db, run_id)[0].problem.review == "pending"
    at.checkbox(key="review_override").check().run()
    _select_rows(at, [pks.index(sp.pk)])
    at.run()
    at.button(key="review_bulk_accepted").click().run()
    _ok(at)
    accepted = next(p for p in _problems(db, run_id) if p.pk == sp.pk).problem
    assert accepted.review == "accepted"
    assert accepted.metadata["accepted_override"]["status"] == "unparsable"
