"""InfoSynth dashboard: navigation only. Start with `make run` (http://127.0.0.1:8501)."""

import streamlit as st

from infosynth_core.apikeys import hold_environment_keys
from pages.common import mark_app_navigation, warm_up_maps

# API keys leave the server's environment before any page starts sandboxed test code
# (Review re-verifies edits); runners get them through a pipe (infosynth_core/apikeys.py).
hold_environment_keys()

# an emoji favicon is drawn in place (a data: URL); a :material/…: one is fetched from
# fonts.gstatic.com by the browser, and the dashboard makes no request to anyone else
st.set_page_config(page_title="InfoSynth", page_icon="🧬", layout="wide")
mark_app_navigation()
warm_up_maps()

navigation = st.navigation(
    [
        st.Page("pages/runs.py", title="Runs", icon=":material/monitoring:", default=True),
        st.Page("pages/seeds.py", title="Seeds", icon=":material/eco:"),
        st.Page("pages/synthesize.py", title="Synthesize", icon=":material/play_circle:"),
        st.Page("pages/explore.py", title="Explore", icon=":material/scatter_plot:"),
        st.Page("pages/review.py", title="Review", icon=":material/fact_check:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/grading:"),
    ]
)
st.sidebar.caption("InfoSynth · novel, diverse, verified coding benchmarks")
navigation.run()
