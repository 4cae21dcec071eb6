"""Stored text is shown as text on every page (Streamlit AppTest, inside app.py's navigation).

The store holds statements, topics, tests, solutions, run and seed-set names, error texts,
attempt notes and model names full of markup (tests/hostile.py). Every element that renders
markdown (markdown, captions, alerts, labels, expander and tab titles, metrics, help) must
carry it escaped, and every Plotly figure (hover text, custom data, legend names, category
labels) HTML-escaped. The real browser test (test_browser_hostile.py) checks what the
frontend then makes of it.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from conftest import ROOT
from hostile import (
    HOSTILE_ERROR,
    HOSTILE_MODEL,
    HOSTILE_RUN_NAME,
    HOSTILE_SEED_SET,
    HOSTILE_TOPICS,
    NOTE,
    PAYLOADS,
    RAW_MARKERS,
    build_hostile_store,
)
from streamlit.testing.v1 import AppTest
from test_app_pages import PAGES
from test_explore import copy_store

from infosynth_core import Store
from infosynth_core.textsafe import escape_hover, escape_markdown

MARKDOWN_ELEMENTS = {"markdown", "caption", "info", "warning", "error", "success", "title"}
MARKDOWN_ELEMENTS |= {"header", "subheader", "toast"}
# Stored payloads as Plotly would interpret them (our own hovertemplates use <b>…</b>)
PLOTLY_MARKERS = ["<a ", "<img", "<script", "<iframe", "<i>", "%{xaxis", "<b>bold", "<b>Array"]
PLOTLY_MARKERS += ["<b>run", "<b>set"]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    db = tmp_path_factory.mktemp("app-hostile") / "template.db"
    return db, build_hostile_store(db)


@pytest.fixture
def hostile(template, tmp_path, monkeypatch) -> dict:
    db, info = template
    store_db = copy_store(db, tmp_path / "app.db")
    monkeypatch.setenv("INFOSYNTH_DB", str(store_db))
    monkeypatch.chdir(ROOT)
    store = Store(store_db)
    yield {**info, "store": store}
    store.close()


def _open(page: str, query: dict | None = None, timeout: float = 60) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.query_params.update(query or {})
    at.run()
    at.switch_page(page).run()
    _ok(at)
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def _walk(node):
    yield node
    for child in (getattr(node, "children", None) or {}).values():
        yield from _walk(child)


def _nodes(at: AppTest):
    yield from _walk(at.main)
    yield from _walk(at.sidebar)


def markdown_texts(at: AppTest) -> list[str]:
    """Every string the page hands to Streamlit's markdown renderer."""
    texts = []
    for node in _nodes(at):
        if node.type in MARKDOWN_ELEMENTS:
            texts.append(node.value)
        for owner in (node, getattr(node, "proto", None)):
            for field in ("label", "help"):
                try:
                    value = getattr(owner, field, None)
                except Exception:  # noqa: BLE001 - an element without the field
                    value = None
                if isinstance(value, str) and value:
                    texts.append(value)
    return texts


def plotly_strings(at: AppTest) -> list[str]:
    """Every string in every Plotly figure of the page (data and layout)."""

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for v in value.values():
                yield from strings(v)
        elif isinstance(value, list):
            for v in value:
                yield from strings(v)

    return [s for chart in at.get("plotly_chart") for s in strings(json.loads(chart.proto.spec))]


def assert_inert(at: AppTest) -> None:
    for text in markdown_texts(at):
        found = [m for m in RAW_MARKERS if m in text]
        assert not found, (found, text)
    for text in plotly_strings(at):
        found = [m for m in PLOTLY_MARKERS if m in text]
        assert not found, (found, text)


def _joined(texts: list[str]) -> str:
    return "\n".join(texts)


@pytest.mark.parametrize("page", PAGES)
def test_no_page_renders_stored_markup(hostile, page):
    at = _open(page, timeout=300)  # Explore places the map (UMAP's first compile)
    assert_inert(at)


def test_review_detail_lineage_and_attempts_show_escaped_text(hostile):
    at = _open("pages/review.py", timeout=300)
    assert_inert(at)
    store, run_id = hostile["store"], hostile["runs"][-1]
    first = store.problems(run_id=run_id)[0].problem
    parent = hostile["statements"][hostile["parent"]]
    md = _joined(markdown_texts(at))
    assert escape_markdown(", ".join(first.topics)) in md  # the facts line
    assert escape_markdown(" ".join(parent.split())[:160]) in md  # lineage: the parent
    assert escape_markdown(NOTE) in md  # attempt note
    # statement, solution, tests, diffs: plain code blocks, the text as stored
    codes = [c.value for c in at.code]
    assert first.problem in codes and first.solution.strip() in codes
    assert any(c.language == "diff" and PAYLOADS["image"] in c.value for c in at.code)
    hover = _joined(plotly_strings(at))
    assert escape_hover(" ".join(first.problem.split())[:100]) in hover


def test_review_reflected_run_address_is_escaped(hostile):
    at = _open("pages/review.py", {"run": PAYLOADS["image"]})
    assert escape_markdown(PAYLOADS["image"]) in _joined(w.value for w in at.warning)
    assert_inert(at)


def test_explore_map_problem_and_errors_show_escaped_text(hostile):
    store, run_id = hostile["store"], hostile["runs"][-1]
    child = store.problems(run_id=run_id)[0].problem
    at = _open("pages/explore.py", {"run": run_id}, timeout=300)
    assert escape_markdown(HOSTILE_ERROR) in _joined(w.value for w in at.warning)
    hover = plotly_strings(at)
    wrapped = escape_hover("\n".join(textwrap.wrap(child.problem, 70)))
    assert wrapped in hover  # the map's hover text
    assert escape_hover(HOSTILE_TOPICS[0]) in hover  # topic coverage: category labels
    at.radio(key="explore_color").set_value("topic").run()
    assert escape_hover(HOSTILE_TOPICS[0]) in plotly_strings(at)  # legend names
    at.text_input(key="explore_problem_id").input(child.id).run()
    _ok(at)
    assert escape_markdown(", ".join(child.topics)) in _joined(markdown_texts(at))
    assert child.problem in [c.value for c in at.code]
    assert_inert(at)
    at.text_input(key="explore_problem_id").input(PAYLOADS["img"]).run()
    assert escape_markdown(PAYLOADS["img"]) in _joined(w.value for w in at.warning)
    assert_inert(at)


def test_seeds_set_name_problem_and_map_show_escaped_text(hostile):
    at = _open("pages/seeds.py", timeout=300)
    at.selectbox(key="seeds_view_set").select(HOSTILE_SEED_SET).run()
    _ok(at)
    assert any(escape_markdown(HOSTILE_SEED_SET) in e.label for e in at.expander)
    seed = hostile["store"].seed_set_problems(HOSTILE_SEED_SET)[0]
    assert escape_markdown(", ".join(seed.topics)) in _joined(markdown_texts(at))
    at.toggle(key="seeds_map").set_value(True).run()
    _ok(at)
    hover = plotly_strings(at)
    assert escape_hover(seed.problem) in hover and escape_hover(HOSTILE_TOPICS[0]) in hover
    assert_inert(at)


def test_compare_labels_runs_and_topics_escaped(hostile):
    at = _open("pages/compare.py")
    labels = plotly_strings(at)
    assert escape_hover(HOSTILE_RUN_NAME) in labels and escape_hover(HOSTILE_TOPICS[1]) in labels
    assert_inert(at)


def test_synthesize_and_evaluate_show_error_and_model_escaped(hostile):
    at = _open("pages/synthesize.py")
    assert escape_markdown(HOSTILE_ERROR) in _joined(e.value for e in at.error)
    assert_inert(at)
    at = _open("pages/evaluate.py")
    assert escape_markdown(HOSTILE_MODEL) in _joined(i.value for i in at.info)
    assert escape_markdown(HOSTILE_MODEL) in _joined(m.value for m in at.markdown)
    assert_inert(at)
