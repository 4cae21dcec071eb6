"""Compare runs: novelty against diversity with their intervals, pass rates and topic
coverage side by side, and the runs' settings in one table."""

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from infosynth_core import InfoSynthError
from infosynth_core.compare import calibrated_compare, comparability, measure_together
from infosynth_core.explore import compare_runs, topic_coverage_compare
from infosynth_core.runner import run_config_of
from infosynth_core.textsafe import escape_hover, escape_markdown
from pages.common import runs_or_stop, show_error, use_app_navigation

use_app_navigation()

TOP_TOPICS = 20

st.title("Compare")
st.caption(
    "Runs side by side: calibrated novelty and diversity (excess over held-out seeds, nats) at "
    "one common N, pass rates, topic coverage and settings. Runs measured against different "
    "seeds or with different metric settings are not compared until they are measured "
    "together."
)

store, runs = runs_or_stop(
    lambda n: (
        f"**Comparing needs at least two runs; this store has {n}.** Start another on "
        "the **Synthesize** page, e.g. the same config with k-farthest filtering off."
    ),
    at_least=2,
)

ids = [r.id for r in runs]
labels = {r.id: f"{r.id} · {r.name or 'unnamed'} · {r.status}" for r in runs}
if "compare_runs" not in st.session_state:
    st.session_state["compare_runs"] = ids[:2]  # the two newest
st.session_state["compare_runs"] = [r for r in st.session_state["compare_runs"] if r in ids]
chosen = st.multiselect("Runs", ids, key="compare_runs", format_func=labels.get)
if len(chosen) < 2:
    st.info("Pick at least two runs to compare.", icon=":material/info:")
    st.stop()

try:
    table = compare_runs(store, chosen)
    topics = topic_coverage_compare(store, chosen)
except InfoSynthError as exc:
    show_error(exc)
    st.stop()

names = {r.id: r.name for r in runs}
# a run's label in the charts: its name when that is unique among the chosen, else its id;
# escaped, as Plotly renders HTML in legends, text and tick labels
short = {
    r: escape_hover(names[r] if names[r] and [names[c] for c in chosen].count(names[r]) == 1 else r)
    for r in chosen
}
palette = px.colors.qualitative.Plotly
colors = {short[r]: palette[i % len(palette)] for i, r in enumerate(chosen)}


def _scatter(frame: pd.DataFrame) -> go.Figure:
    """Excess novelty against excess diversity (nats), one point per run with its intervals."""
    fig = go.Figure()
    for _, row in frame.iterrows():
        name = short[row["run"]]
        bars = {}
        for axis, prefix in (("error_x", "novelty_excess"), ("error_y", "diversity_excess")):
            if row[f"{prefix}_low"] == row[f"{prefix}_low"]:  # not NaN: an interval exists
                bars[axis] = {
                    "type": "data", "symmetric": False,
                    "array": [row[f"{prefix}_high"] - row[f"{prefix}_mean"]],
                    "arrayminus": [row[f"{prefix}_mean"] - row[f"{prefix}_low"]],
                }  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=[row["novelty_excess_mean"]], y=[row["diversity_excess_mean"]],
                mode="markers+text", name=name, text=[name], cliponaxis=False,
                textposition="top center", marker={"size": 11, "color": colors[name]}, **bars,
            )
        )  # fmt: skip
    fig.add_hline(y=0, line_dash="dash", line_color="#888")
    fig.add_vline(x=0, line_dash="dash", line_color="#888")
    fig.update_layout(
        height=380, xaxis_title="novelty beyond the seeds (excess, nats)",
        yaxis_title="diversity beyond the seeds (excess, nats)",
        margin={"t": 30, "b": 0, "l": 30, "r": 30}, showlegend=False,
    )  # fmt: skip
    return fig


def _intervals(frame: pd.DataFrame) -> str:
    fits = sorted({int(v) for v in frame["fits"].dropna()})
    draws = sorted({int(v) for v in frame["draws"].dropna()})
    if fits == [1]:
        return "one UMAP fit each, so no interval"
    return (
        f"error bars: 95% intervals over {'/'.join(map(str, fits))} UMAP fits × "
        f"{'/'.join(map(str, draws))} draws"
    )


def draw_novelty_diversity() -> None:
    st.subheader("Novelty vs diversity")
    try:
        comp = comparability(store, chosen)
        stored = calibrated_compare(store, chosen)
    except InfoSynthError as exc:
        show_error(exc)
        return
    verified = tuple(int(v) for v in stored["verified"])
    together_key = (tuple(chosen), verified)
    together = st.session_state.get("compare_together", {}).get(together_key)
    if together is not None:
        shown = together[together["novelty_excess_mean"].notna()]
        seed_sets = sorted({str(r.config.get("seed_set")) for r in runs if r.id in chosen})
        if not shown.empty:
            st.plotly_chart(_scatter(shown), key="compare_scatter")
        st.caption(
            "Measured together: each run's verified problems in the same joint UMAP fits, "
            f"against the seeds of {escape_markdown(', '.join(seed_sets))}, every run at "
            f"N = {int(shown['n'].iloc[0]) if not shown.empty else '—'}; excess over held-out "
            f"seeds of the same N (0 = indistinguishable from more seeds); {_intervals(together)}."
        )
        for _, row in together[together["too_few"].notna()].iterrows():
            st.caption(f"{escape_markdown(row['run'])}: {escape_markdown(str(row['too_few']))}.")
    elif not comp.comparable:
        st.warning(
            "**These runs' novelty and diversity cannot be compared as stored:** "
            + "; ".join(escape_markdown(r) for r in comp.reasons)
            + ". Measure them together (below) to compare them in one fit, at one N.",
            icon=":material/block:",
        )
    else:
        shown = stored[stored["novelty_excess_mean"].notna()]
        if shown.empty:
            st.info(
                "None of these runs has calibrated novelty and diversity yet: they appear after "
                "a generation with at least 30 verified problems (`metrics.min_n`).",
                icon=":material/info:",
            )
        else:
            st.plotly_chart(_scatter(shown), key="compare_scatter")
            missing = sorted(set(chosen) - set(shown["run"]))
            notes = [
                f"Each run's last measured generation, all verified so far, at a common "
                f"N = {comp.common_n}: excess over held-out seeds of the same N (0 = "
                f"indistinguishable from more seeds); {_intervals(shown)}."
            ]
            notes += [f"Note: {n}." for n in comp.notes]
            if missing:
                notes.append(f"Not measured yet: {escape_markdown(', '.join(missing))}.")
            st.caption(" ".join(notes))
    if st.button(
        "Measure these runs together",
        key="compare_measure_together",
        help="One set of joint UMAP fits for all chosen runs, against the union of their seed "
        "sets, every run at the same N, with the metric settings (embedding model, d, k, fits, "
        "draws) of the first run chosen. About a minute on 2 cores with 10 fits.",
    ):
        bar = st.progress(0.0, text="Embedding and fitting…")
        try:
            first = next(r for r in runs if r.id == chosen[0])
            result = measure_together(
                store,
                chosen,
                metrics=run_config_of(first).metrics,
                progress=lambda d, t: bar.progress(d / t, text=f"UMAP fit {d} of {t}"),
            )
        except InfoSynthError as exc:
            show_error(exc)
            return
        st.session_state.setdefault("compare_together", {})[together_key] = result
        st.rerun()


left, right = st.columns(2)
with left:
    draw_novelty_diversity()
with right:
    st.subheader("Pass rates")
    fig = px.bar(
        table.assign(label=table["run"].map(short)), x="label", y="pass_rate", color="label",
        color_discrete_map=colors,
        text=table["pass_rate"].map(lambda v: "–" if v != v else f"{v:.0%}"),
        hover_data={"passed": True, "kept": True, "verified": True, "label": False},
    )  # fmt: skip
    fig.update_layout(
        height=380, yaxis_tickformat=".0%", yaxis_range=[0, 1], xaxis_title=None,
        yaxis_title="verified / kept", margin={"t": 10, "b": 0}, showlegend=False,
    )  # fmt: skip
    st.plotly_chart(fig, key="compare_pass")
    st.caption("Verified (tests passed) over kept candidates, all generations and operators.")

st.subheader("Topic coverage")
if topics.empty:
    st.caption("None of these runs has verified problems with topics yet.")
else:
    long = topics.head(TOP_TOPICS).melt(id_vars="topic", var_name="run", value_name="share")
    long["run"] = long["run"].map(short)
    long["topic"] = long["topic"].map(escape_hover)
    fig = px.bar(
        long, x="topic", y="share", color="run", barmode="group", color_discrete_map=colors
    )
    fig.update_layout(
        height=380,
        yaxis_tickformat=".0%",
        margin={"t": 10, "b": 0},
        legend={"orientation": "h", "y": 1.12},
    )
    st.plotly_chart(fig, key="compare_topics")
    st.caption(
        f"Share of each run's verified problems tagged with the topic; the {min(TOP_TOPICS, len(topics))} "
        f"topics with the largest mean share of {len(topics)}."
    )

st.subheader("Runs")
st.dataframe(
    table, hide_index=True, key="compare_table",
    column_config={
        "pass_rate": st.column_config.NumberColumn("pass rate", format="percent"),
        "novelty_mean": st.column_config.NumberColumn("raw novelty (nats)", format="%.2f"),
        "diversity_mean": st.column_config.NumberColumn("raw diversity (nats)", format="%.2f"),
        "cost_usd": st.column_config.NumberColumn("cost (USD)", format="%.4f"),
    },
)  # fmt: skip
