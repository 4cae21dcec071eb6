"""Helpers shared by the dashboard pages: the store handle and error display.

Pages only call ``infosynth_core`` and draw; this module holds the little glue they share.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

try:
    from streamlit.runtime.pages_manager import PagesManager
except ImportError:  # pragma: no cover - a Streamlit without the legacy flag
    PagesManager = None

from infosynth_core import (
    InfoSynthError,
    Problem,
    RecordValidationError,
    SeedSetInfo,
    Settings,
    Store,
    ensure_bundled_seed_set,
)
from infosynth_core.textsafe import escape_markdown, markdown_code

_NAV_MARK = "_infosynth_app_navigation"


def mark_app_navigation() -> None:
    """Called by app.py: this session has run the app's own navigation."""
    st.session_state[_NAV_MARK] = True


def use_app_navigation() -> None:
    """Make sure app.py's navigation draws this page, not Streamlit's legacy one.

    Streamlit decides once per server process, before the first script run, whether `pages/`
    is a legacy auto-discovered page folder; only st.navigation (in app.py) clears that flag.
    Until then a deep link such as /seeds, as the first request after start-up, runs the page
    file without app.py, under a raw file list ("app, common, runs, seeds"). Every page calls
    this first: when the flag is set and app.py has not run in this session, it clears the
    flag and reruns, and app.py's navigation takes over. (A session that already ran app.py
    keeps its widget state: AppTest, which resets the flag before every run, relies on it.)
    """
    if getattr(PagesManager, "uses_pages_directory", False) and not st.session_state.get(_NAV_MARK):
        PagesManager.uses_pages_directory = False
        st.rerun()


@st.cache_resource(show_spinner=False)
def _open_store(db_path: str) -> Store:
    # Store keeps one SQLite connection per thread, so sharing it across sessions is safe.
    store = Store(db_path)
    ensure_bundled_seed_set(store)
    return store


@st.cache_resource(show_spinner=False)
def sandbox_isolation() -> str:
    """The sandbox isolation level this machine gives: 'bubblewrap' or 'process'."""
    from infosynth_core.sandbox import detect_isolation

    return detect_isolation()


@st.cache_resource(show_spinner=False)
def sandbox_caps() -> tuple[str, str | None]:
    """The kernel caps on a run's processes and memory here ('cgroup-v2', 'cgroup-v1' or
    'rlimit') and, for 'rlimit', why."""
    from infosynth_core.sandbox import caps_problem, detect_caps

    level = detect_caps()
    return level, (caps_problem() if level == "rlimit" else None)


def get_settings() -> Settings:
    """Settings from the environment (INFOSYNTH_DB, INFOSYNTH_MAX_IMPORT_MB, …)."""
    return Settings.from_env()


def get_store() -> Store:
    """The store named by the settings, with the bundled seed set imported on first use."""
    return _open_store(str(get_settings().db_path))


def show_error(exc: Exception) -> None:
    """Show an InfoSynth error in place: a summary and, for record errors, a table."""
    if isinstance(exc, RecordValidationError):
        st.error(
            f"**{escape_markdown(exc.source)}**: {len(exc.issues)} problem(s) found — nothing "
            "was imported. Fix the rows below and upload again."
        )
        st.dataframe(
            pd.DataFrame(
                [
                    {"where": i.where, "field": i.field, "value": i.value, "reason": i.reason}
                    for i in exc.issues
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    elif isinstance(exc, InfoSynthError):  # messages quote ids, names and file contents
        st.error(escape_markdown(str(exc)))
    else:  # pragma: no cover - unexpected; still no traceback in the page
        st.error(f"Unexpected error ({type(exc).__name__}): {escape_markdown(exc)}")


def problems_frame(problems: list[Problem]) -> pd.DataFrame:
    """A preview table: id, statement (shortened), topics, difficulty, reference present."""

    def short(text: str, n: int = 140) -> str:
        text = " ".join(text.split())
        return text if len(text) <= n else text[: n - 1] + "…"

    return pd.DataFrame(
        {
            "id": [p.id for p in problems],
            "statement": [short(p.problem) for p in problems],
            "topics": [", ".join(p.topics) for p in problems],
            "difficulty": [p.difficulty or "" for p in problems],
            "solution + tests": [p.has_reference for p in problems],
        }
    )


def seed_sets_frame(seed_sets: list[SeedSetInfo]) -> pd.DataFrame:
    """One row per saved seed set: name, size, format, source, creation time."""
    return pd.DataFrame(
        [
            {
                "name": s.name,
                "problems": s.n_problems,
                "format": s.format,
                "source": s.source,
                "created": s.created_at,
            }
            for s in seed_sets
        ],
        columns=["name", "problems", "format", "source", "created"],
    )


def show_problem(problem: Problem) -> None:
    """One problem in full: facts, statement, reference solution, tests (stored text is shown
    as text: escaped in the facts line, in code blocks otherwise)."""
    facts = [
        f"**{escape_markdown(problem.id)}**",
        problem.difficulty or "difficulty unknown",
        escape_markdown(", ".join(problem.topics)) or "no topics",
        f"entry point {markdown_code(problem.entry_point)}"
        if problem.entry_point
        else "no entry point",
        f"{problem.origin.operator}, generation {problem.origin.generation}",
        f"status {problem.status}",
    ]
    st.markdown(" · ".join(facts))
    st.code(problem.problem, language="text", wrap_lines=True)
    if problem.solution:
        st.caption("Reference solution")
        st.code(problem.solution, language="python")
    if problem.tests:
        st.caption("Tests")
        st.code(problem.tests, language="python")
    if not problem.has_reference:
        st.caption("No reference solution and tests yet: a run will write and verify them.")


@st.cache_resource(show_spinner=False)
def warm_up_maps() -> bool:
    """Start UMAP's one-time JIT compile in a background thread when the server starts, so
    the first map (Seeds, Explore, Review) does not wait for it."""
    from infosynth_core.projection import warm_up

    warm_up(background=True)
    return True


def runs_or_stop(empty_message, *, at_least: int = 1):
    """The store and its runs, newest first. A store error is shown in place; with fewer than
    ``at_least`` runs ``empty_message`` (a string, or a function of the number of runs) is
    shown with a link to Synthesize; both stop the page."""
    try:
        store = get_store()
        runs = store.list_runs()[::-1]
    except InfoSynthError as exc:
        show_error(exc)
        st.stop()
    if len(runs) < at_least:
        text = empty_message(len(runs)) if callable(empty_message) else empty_message
        st.info(text, icon=":material/info:")
        st.page_link("pages/synthesize.py", label="Go to Synthesize", icon=":material/play_circle:")
        st.stop()
    return store, runs
