"""Test strength (stored mutation scores) wherever a user looks: the Explore map and operator
yield, the Review table, filter and detail, and the export manifest and filter (library and
CLI). The store is built directly (a small seed set, a run, problems with hand-set
``metadata["mutation_score"]``), so every expected value is computed by hand."""

from __future__ import annotations

import base64
import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, run_cli
from streamlit.testing.v1 import AppTest

from infosynth_core import ConfigError, Store, load_problems
from infosynth_core.explore import MAP_COLUMNS, YIELD_COLUMNS, operator_yield, run_map
from infosynth_core.export import export_from_store
from infosynth_core.problem import Origin
from infosynth_core.projection import warm_up
from infosynth_core.review import FRAME_COLUMNS, problem_detail, review_frame
from infosynth_core.seeds import load_bundled_seeds
from infosynth_core.strength import describe_strength, stored_mutation_score, strength_summary

RUN = "run-strength"
SURVIVOR = "line 4: < → <= <b>x</b>"  # stored text: shown as code, never as markup


def _ms(killed: int, total: int, survivors=(), notes=()) -> dict:
    return {
        "score": round(killed / total, 4) if total else None,
        "killed": killed,
        "total": total,
        "survivors": list(survivors),
        "by_operator": {},
        "outcomes": {},
        "notes": list(notes),
    }


# id -> (operator, status, extra metadata); scores by hand: a 7/8, b 1/4, c 4/5, f 5/5
PROBLEMS = {
    "g1-a": ("mutation-easy", "passed", {"mutation_score": _ms(7, 8, [SURVIVOR])}),
    "g1-b": ("mutation-easy", "passed", {"mutation_score": _ms(1, 4, ["x", "y", "z"])}),
    "g1-c": ("crossover", "passed", {"mutation_score": _ms(4, 5)}),
    "g1-d": ("crossover", "passed", {}),  # an older run: no score
    "g1-e": (
        "mutation-hard",
        "passed",
        {"degenerate": [{"kind": "constant-output", "detail": "returns 0 for *every* input"}]},
    ),
    "g1-f": ("mutation-medium", "passed", {"duplicate_of": "g1-a", "mutation_score": _ms(5, 5)}),
    "g1-g": ("mutation-medium", "failed", {}),
    "g1-h": (
        "mutation-easy",
        "passed",
        {"mutation_score": _ms(0, 0, notes=["no mutant could be made"])},
    ),
}
SCORE = {"g1-a": 0.875, "g1-b": 0.25, "g1-c": 0.8, "g1-f": 1.0}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("strength") / "template.db"
    store = Store(db)
    seeds = load_bundled_seeds().problems[:6]
    store.create_seed_set("mini", seeds, source="test", format="canonical")
    store.create_run(run_id=RUN, seed_set="mini", config={"seed_set": "mini"}, name="strength")
    problems = []
    for n, (pid, (op, status, meta)) in enumerate(PROBLEMS.items()):
        parent = seeds[n % len(seeds)]
        origin = Origin(operator=op, parents=(parent.id,), generation=1, colony=0)
        update = {"id": pid, "origin": origin, "status": status, "metadata": meta}
        problems.append(parent.model_copy(update=update))
    store.add_problems(RUN, problems)
    store.update_run(RUN, status="finished")
    run_map(store, RUN)  # embeds once (cached in the store) and warms UMAP
    store.close()
    return db


@pytest.fixture
def db(template, tmp_path) -> Path:
    copy = tmp_path / "store" / "infosynth.db"
    copy.parent.mkdir()
    src, dst = sqlite3.connect(template), sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.close()
    return copy


@pytest.fixture
def store(db):
    s = Store(db)
    yield s
    s.close()


def _pks(store: Store) -> dict[str, int]:
    return {sp.problem.id: sp.pk for sp in store.problems(run_id=RUN)}


# ---------------------------------------------------------------------------- library
def test_stored_scores_are_read_and_described():
    seeds = load_bundled_seeds().problems
    p = seeds[0].model_copy(update={"metadata": {"mutation_score": _ms(7, 8, [SURVIVOR])}})
    ms = stored_mutation_score(p)
    assert (ms["score"], ms["killed"], ms["total"], ms["survivors"]) == (0.875, 7, 8, [SURVIVOR])
    assert describe_strength(ms) == "tests reject 7 of 8 mutants (score 0.88)"
    assert describe_strength(None) == "—"
    none = seeds[0].model_copy(update={"metadata": {"mutation_score": _ms(0, 0)}})
    assert describe_strength(stored_mutation_score(none)) == "no mutants could be made"
    for bad in ("x", {"score": 2.0, "killed": 1, "total": 1}, {"score": 0.5, "killed": 3}):
        assert (
            stored_mutation_score(seeds[0].model_copy(update={"metadata": {"mutation_score": bad}}))
            is None
        )
    assert strength_summary(seeds) == {
        "scored": 0, "mean": None, "median": None, "share_at_least_0_8": None
    }  # fmt: skip


def test_run_map_has_the_test_strength_of_each_point(store):
    df = run_map(store, RUN)
    assert list(df.columns) == list(MAP_COLUMNS) and "test_strength" in MAP_COLUMNS
    seeds = df[df["set"] == "seed"]
    assert seeds["test_strength"].isna().all() and seeds["mutants_total"].isna().all()
    gen = df[df["set"] == "generated"].set_index("id")
    for pid in PROBLEMS:
        if pid in SCORE:
            assert gen.loc[pid, "test_strength"] == pytest.approx(SCORE[pid])
        else:
            assert math.isnan(gen.loc[pid, "test_strength"]), pid
    assert (gen.loc["g1-a", "mutants_killed"], gen.loc["g1-a", "mutants_total"]) == (7, 8)
    assert pd.isna(gen.loc["g1-h", "mutants_total"])  # no mutant could be made: unscored


def test_operator_yield_averages_the_benchmark_scores(store):
    table = operator_yield(store, RUN).set_index("operator")
    assert "test_strength" in YIELD_COLUMNS
    # benchmark: a, b, h (mutation-easy), c, d (crossover); e degenerate, f duplicate, g failed
    assert table.loc["mutation-easy", "benchmark"] == 3
    assert table.loc["mutation-easy", "test_strength"] == pytest.approx((0.875 + 0.25) / 2)
    assert table.loc["crossover", "test_strength"] == pytest.approx(0.8)  # d is unscored
    assert table.loc["all", "test_strength"] == pytest.approx((0.875 + 0.25 + 0.8) / 3)
    assert "mutation-medium" not in table.index  # f (duplicate) is not in the benchmark


def test_review_frame_shows_and_filters_by_test_strength(store):
    frame = review_frame(store, RUN).set_index("id")
    assert "test_strength" in FRAME_COLUMNS and len(frame) == len(PROBLEMS)
    assert frame.loc["g1-a", "test_strength"] == pytest.approx(0.875)
    assert np.isnan(frame.loc["g1-d", "test_strength"])
    at_80 = review_frame(store, RUN, min_mutation_score=0.8)
    assert sorted(at_80["id"]) == ["g1-a", "g1-c", "g1-f"]  # 0.8 itself is kept
    assert list(review_frame(store, RUN, min_mutation_score=0.9)["id"]) == ["g1-f"]
    assert len(review_frame(store, RUN, min_mutation_score=0.0)) == 4  # unscored dropped
    both = review_frame(store, RUN, min_mutation_score=0.8, operator="crossover")
    assert list(both["id"]) == ["g1-c"]
    for bad in (1.5, -0.1, "0.8", float("nan")):
        with pytest.raises(ConfigError, match="min_mutation_score.*review_frame"):
            review_frame(store, RUN, min_mutation_score=bad)


def test_problem_detail_has_the_score_and_the_degeneracy_findings(store):
    pks = _pks(store)
    a = problem_detail(store, pks["g1-a"], run_id=RUN)
    assert a["mutation_score"]["survivors"] == [SURVIVOR] and a["degenerate"] == []
    e = problem_detail(store, pks["g1-e"], run_id=RUN)
    assert e["mutation_score"] is None
    assert e["degenerate"] == [{"kind": "constant-output", "detail": "returns 0 for *every* input"}]


# ---------------------------------------------------------------------------- export
def test_manifest_summarises_test_strength_and_the_filter_keeps_strong_tests(store, tmp_path):
    full = export_from_store(store, RUN, format="jsonl", out=tmp_path / "all.jsonl")
    ts = full.manifest["test_strength"]
    scores = [0.875, 0.25, 0.8, 1.0]  # a, b, c, f (h has no score: no mutant could be made)
    assert ts["scored"] == 4 and full.manifest["n_problems"] == len(PROBLEMS)
    assert ts["mean"] == pytest.approx(sum(scores) / 4, abs=1e-4)
    assert ts["median"] == pytest.approx((0.8 + 0.875) / 2)
    assert ts["share_at_least_0_8"] == pytest.approx(3 / 4)
    assert "min_mutation_score" not in full.manifest["source"]

    strong = export_from_store(
        store, RUN, format="jsonl", out=tmp_path / "strong.jsonl", min_mutation_score=0.8
    )
    assert [p.id for p in load_problems(strong.data_path).problems] == ["g1-a", "g1-c", "g1-f"]
    ts = strong.manifest["test_strength"]
    assert ts["scored"] == 3 and ts["median"] == pytest.approx(0.875)
    assert ts["mean"] == pytest.approx((0.875 + 0.8 + 1.0) / 3, abs=1e-4)
    assert ts["share_at_least_0_8"] == 1.0
    assert strong.manifest["source"]["min_mutation_score"] == 0.8
    on_disk = json.loads(strong.manifest_path.read_text())
    assert on_disk["test_strength"] == strong.manifest["test_strength"]

    seeds = export_from_store(store, "mini", format="jsonl", out=tmp_path / "seeds.jsonl")
    assert seeds.manifest["test_strength"] == {
        "scored": 0, "mean": None, "median": None, "share_at_least_0_8": None
    }  # fmt: skip
    with pytest.raises(ConfigError, match="min_mutation_score"):
        export_from_store(
            store, RUN, format="jsonl", out=tmp_path / "x.jsonl", min_mutation_score=80
        )
    assert not (tmp_path / "x.jsonl").exists()


def test_cli_export_with_min_mutation_score(db, tmp_path):
    out = tmp_path / "strong.jsonl"
    r = run_cli("export", RUN, "--format", "jsonl", "--out", out, "--db", db,
                "--min-mutation-score", "0.85")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "Exported 2 problems" in r.stdout
    assert "2 scored, mean mutation score 0.94" in r.stdout  # (0.875 + 1) / 2 = 0.9375
    manifest = json.loads(out.with_suffix(".manifest.json").read_text())
    assert manifest["source"]["min_mutation_score"] == 0.85
    assert [p.id for p in load_problems(out).problems] == ["g1-a", "g1-f"]
    bad = run_cli("export", RUN, "--format", "jsonl", "--out", tmp_path / "b.jsonl", "--db", db,
                  "--min-mutation-score", "80")  # fmt: skip
    assert bad.returncode == 1 and "fraction in [0, 1]" in bad.stderr


# ---------------------------------------------------------------------------- pages
def _open(db: Path, monkeypatch, page: str, **state) -> AppTest:
    monkeypatch.setenv("INFOSYNTH_DB", str(db))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["run"] = RUN
    at.run()
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(page).run()
    _ok(at)
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _frame(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_review_page_filters_by_test_strength_and_shows_it(db, monkeypatch):
    at = _open(db, monkeypatch, "pages/review.py", review_show_map=False)
    assert at.number_input(key="review_min_strength").value is None  # off by default
    assert len(_frame(at, "test_strength")) == len(PROBLEMS)
    at.number_input(key="review_min_strength").set_value(80).run()
    _ok(at)
    assert sorted(_frame(at, "test_strength")["id"]) == ["g1-a", "g1-c", "g1-f"]
    pks = _pks(Store(db))
    at.selectbox(key="review_problem").set_value(pks["g1-a"]).run()
    _ok(at)
    text = " ".join(m.value for m in at.markdown)
    assert "Test strength: tests reject 7 of 8 mutants (score 0.88)" in text
    survivors = next(e for e in at.expander if "Surviving mutants (1)" in e.label)
    assert [c.value for c in survivors.code] == [SURVIVOR]

    at.number_input(key="review_min_strength").set_value(None).run()
    at.selectbox(key="review_problem").set_value(pks["g1-e"]).run()
    _ok(at)
    assert "Test strength: —" in " ".join(m.value for m in at.markdown)
    warning = " ".join(w.value for w in at.warning)
    assert "Degenerate (constant-output): returns 0 for \\*every\\* input" in warning


def _values(data) -> list:
    """A Plotly JSON array: a list, or numpy data as ``{"dtype", "bdata"}`` (base64)."""
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return list(data)


def test_explore_colours_the_map_by_test_strength(db, monkeypatch):
    warm_up(background=False)
    at = _open(db, monkeypatch, "pages/explore.py")
    assert "test strength" in at.radio(key="explore_color").options
    yield_table = _frame(at, "delta_novelty")
    assert yield_table.set_index("operator").loc["crossover", "test_strength"] == pytest.approx(0.8)
    at.radio(key="explore_color").set_value("test strength").run()
    _ok(at)
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    traces = {t["name"]: t for t in fig["data"]}
    assert set(traces) == {"seeds", "no mutation score", "mutation score"}
    scored = traces["mutation score"]["marker"]
    assert scored["colorscale"][0][1].lower() == "#440154"  # Viridis
    assert scored["colorbar"]["title"]["text"] == "mutation score"
    assert sorted(_values(scored["color"])) == sorted(SCORE.values())
    hover = [c[2] for c in traces["mutation score"]["customdata"]]
    assert any("tests reject 7 of 8 mutants" in h for h in hover)
    assert len(_values(traces["no mutation score"]["x"])) == len(PROBLEMS) - len(SCORE)
