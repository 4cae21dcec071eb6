"""Evaluate: run a model on a run's verified problems (paper Table 2): %pass, %fail,
%error and pass@k. The evaluation is its own process; results are stored with the run."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from infosynth_core import InfoSynthError
from infosynth_core.monitor import evaluations, start_evaluation
from infosynth_core.runner import benchmark_problems
from infosynth_core.textsafe import escape_markdown
from pages.common import get_settings, runs_or_stop, show_error, use_app_navigation

use_app_navigation()

st.title("Evaluate")
st.caption(
    "Ask a model to solve a run's verified problems, run its answers in the sandbox and "
    "report pass / fail / error rates and pass@k (unbiased estimator, Chen et al. 2021)."
)

store, runs = runs_or_stop(
    "**No runs yet.** Start one on the **Synthesize** page; once it has verified problems "
    "you can evaluate models on them here.",
)

ids = [r.id for r in runs]
wanted = st.query_params.get("run")
run_id = st.selectbox(
    "Benchmark (run)", ids, index=ids.index(wanted) if wanted in ids else 0, key="eval_run"
)
n_verified = len(benchmark_problems(store, run_id))
st.caption(f"{n_verified} verified problems in this run.")

with st.form("eval_form"):
    c1, c2 = st.columns(2)
    base_url = c1.text_input("Base URL", "http://127.0.0.1:8000/v1", key="eval_base_url")
    model = c2.text_input("Model", "", key="eval_model", placeholder="the model that answers")
    c1, c2, c3, c4 = st.columns(4)
    key_env = c1.text_input("API key variable", "OPENAI_API_KEY", key="eval_key_env")
    api_key = c2.text_input(
        "…or type the key",
        "",
        type="password",
        key="eval_api_key",
        help="Passed to the evaluation process only; never stored or shown again.",
    )
    samples = c3.number_input("Answers per problem (n)", 1, 100, 1, key="eval_samples")
    limit = c4.number_input("Only the first N problems (0 = all)", 0, 100_000, 0, key="eval_limit")
    submitted = st.form_submit_button("Evaluate", type="primary", icon=":material/grading:")
if submitted:
    if not model.strip():
        st.error("Enter the model name (the field **Model**).")
    else:
        try:
            pid = start_evaluation(
                store,
                run_id,
                db_path=get_settings().db_path,
                model=model.strip(),
                base_url=base_url.strip() or None,
                samples=int(samples),
                ks=tuple(sorted({1, int(samples)})),
                api_key_env=key_env.strip(),
                api_key=api_key or None,
                limit=int(limit) or None,
            )
            st.success(f"Evaluation started (process {pid}); results appear below.")
        except InfoSynthError as exc:
            show_error(exc)


@st.fragment(run_every=2)
def results(run_id: str) -> None:
    state = evaluations(store, run_id)
    if state["running"]:
        st.info(
            f"Evaluating **{escape_markdown(state['running'].get('model'))}** …",
            icon=":material/hourglass_top:",
        )
    if state["failed"]:
        st.error("The last evaluation ended without a report. Its output:")
        st.code(state["failed"]["log_tail"] or "(no output)", language="text")
    reports = state["reports"]
    if not reports:
        st.caption("No evaluations of this run yet.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "time": r["created_at"],
                    "model": r["model"],
                    "problems": r["n_problems"],
                    "answers": r["n_answers"],
                    "% pass": r["pct_pass"],
                    "% fail": r["pct_fail"],
                    "% error": r["pct_error"],
                    **{f"pass@{k}": v for k, v in r["pass_at_k"].items()},
                    "tokens": r["usage"]["prompt_tokens"] + r["usage"]["completion_tokens"],
                }
                for r in reports
            ]
        ),
        hide_index=True,
        key="eval_reports_table",
    )
    latest = reports[0]
    st.markdown(f"**Per problem — {escape_markdown(latest['model'])}**")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "problem": p["id"],
                    "answers": p["n"],
                    "passed": p["c"],
                    **{f"pass@{k}": v for k, v in p["pass_at_k"].items()},
                    "outcomes": ", ".join(s["outcome"] for s in p["samples"]),
                }
                for p in latest["problems"]
            ]
        ),
        hide_index=True,
        key="eval_problems_table",
    )


results(run_id)
