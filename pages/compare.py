"""Compare runs: novelty against diversity with their intervals, pass rates and topic
coverage side by side, and the runs' settings in one table."""

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from infosynth_core import InfoSynthError
from infosynth_core.explore import compare_runs, topic_coverage_compare
from infosynth_core.textsafe import escape_hover, escape_markdown
from pages.common import runs_or_stop, show_error, use_app_navigation

use_app_navigation()

TOP_TOPICS = 20

st.title("Compare")
st.caption(
    "Runs side by side: novelty (KL against the seeds, nats) and diversity (entropy, nats) of "
    "each run's last measured generation, pass rates, topic coverage and settings."
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
left, right = st.columns(2)
with left:
    st.subheader("Novelty vs diversity")
    measured = table.dropna(subset=["novelty_mean", "diversity_mean"])
    if measured.empty:
        st.info(
            "None of these runs has novelty and diversity yet: they appear after a generation "
            "with ≥ k + 2 verified problems (k = 4 by default)."
        )
    else:
        fig = go.Figure()
        for _, row in measured.iterrows():
            fig.add_trace(
                go.Scatter(
                    x=[row["novelty_mean"]], y=[row["diversity_mean"]], mode="markers+text",
                    name=short[row["run"]], text=[short[row["run"]]], cliponaxis=False,
                    textposition="top center",
                    marker={"size": 11, "color": colors[short[row["run"]]]},
                    error_x={"type": "data", "symmetric": False,
                             "array": [row["novelty_high"] - row["novelty_mean"]],
                             "arrayminus": [row["novelty_mean"] - row["novelty_low"]]},
                    error_y={"type": "data", "symmetric": False,
                             "array": [row["diversity_high"] - row["diversity_mean"]],
                             "arrayminus": [row["diversity_mean"] - row["diversity_low"]]},
                )
            )  # fmt: skip
        fig.update_layout(
            height=380, xaxis_title="novelty D(generated‖seeds), nats",
            yaxis_title="diversity H (generated, matched N), nats",
            margin={"t": 30, "b": 0, "l": 30, "r": 30}, showlegend=False,
        )  # fmt: skip
        st.plotly_chart(fig, key="compare_scatter")
        missing = sorted(set(chosen) - set(measured["run"]))
        sizes = set(measured["matched_n"].dropna())
        notes = ["Error bars: 95% intervals over the UMAP fits."]
        if len(sizes) > 1:
            notes.append(
                f"Entropies were measured at different N ({', '.join(map(str, sorted(sizes)))}): "
                "compare them with care."
            )
        if missing:
            notes.append(f"Not measured yet: {escape_markdown(', '.join(missing))}.")
        st.caption(" ".join(notes))
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
        "novelty_mean": st.column_config.NumberColumn("novelty (nats)", format="%.2f"),
        "diversity_mean": st.column_config.NumberColumn("diversity (nats)", format="%.2f"),
        "cost_usd": st.column_config.NumberColumn("cost (USD)", format="%.4f"),
    },
)  # fmt: skip
