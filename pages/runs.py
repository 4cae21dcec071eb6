"""Runs overview: the synthesis runs in the store and the seed sets they can start from."""

import pandas as pd
import streamlit as st

from infosynth_core import InfoSynthError
from infosynth_core.sandbox import fallback_warning
from infosynth_core.textsafe import escape_markdown
from pages.common import (
    get_store,
    sandbox_caps,
    sandbox_isolation,
    seed_sets_frame,
    show_error,
    use_app_navigation,
)

use_app_navigation()

st.title("Runs")
st.caption("Synthesis runs in this store, newest first, and the seed sets they start from.")

try:
    store = get_store()
    runs = store.list_runs()
    seed_sets = store.list_seed_sets()
except InfoSynthError as exc:  # shown in place, never as a traceback
    show_error(exc)
    st.stop()

isolation = sandbox_isolation()
if isolation == "process":
    st.warning(
        f"**Sandbox: process-level isolation only.** {fallback_warning()}",
        icon=":material/shield:",
    )
else:
    st.caption(":material/shield: Sandbox: kernel isolation (bubblewrap) for all generated code.")
caps, why = sandbox_caps()
if caps == "rlimit":
    st.caption(
        ":material/shield: No kernel cap on a run's processes and memory as a whole "
        f"({escape_markdown(str(why))}); per-process limits only."
    )
else:
    st.caption(
        f":material/shield: Each run is capped by the kernel ({caps}): processes and memory "
        "of the run as a whole."
    )

c1, c2, c3 = st.columns(3)
c1.metric("Runs", len(runs))
c2.metric("Seed sets", len(seed_sets))
c3.metric("Seed problems", sum(s.n_problems for s in seed_sets))

if not runs:
    st.info(
        "**No runs yet.** A run evolves a seed set into new, verified problems. "
        "Your seed sets are ready: look at them (or upload your own) on the **Seeds** page, "
        "then start a run on the **Synthesize** page (the offline engine needs no API key). "
        "Runs appear here as soon as one is started.",
        icon=":material/info:",
    )
    c1, c2 = st.columns(2)
    c1.page_link("pages/synthesize.py", label="Go to Synthesize", icon=":material/play_circle:")
    c2.page_link("pages/seeds.py", label="Go to Seeds", icon=":material/eco:")
else:
    from infosynth_core.monitor import run_progress

    names = {s.id: s.name for s in seed_sets}
    rows = []
    for r in reversed(runs):
        p = run_progress(store, r.id)
        rows.append(
            {
                "run": r.id,
                "name": r.name,
                "status": p["status"],
                "engine": p["engine"],
                "progress": p["fraction"],
                "verified": p["verified"],
                "tokens": p["tokens"],
                "seed set": names.get(r.seed_set_id, ""),
                "created": r.created_at,
            }
        )
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        key="runs_table",
        column_config={
            "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0)
        },
    )
    c1, c2, c3 = st.columns(3)
    c1.page_link("pages/synthesize.py", label="Start or watch a run", icon=":material/play_circle:")
    c2.page_link(
        "pages/explore.py", label="Explore the map and curves", icon=":material/scatter_plot:"
    )
    c3.page_link(
        "pages/review.py", label="Review and export problems", icon=":material/fact_check:"
    )

st.subheader("Seed sets")
st.dataframe(seed_sets_frame(seed_sets), hide_index=True, key="runs_seed_sets_table")
