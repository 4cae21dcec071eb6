"""Explore a run: its problems on a stable map over the seeds, novelty and diversity per
generation, topic coverage, and what each operator yields. Refreshes while the run runs."""

import time

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from infosynth_core import InfoSynthError
from infosynth_core.explore import (
    CURVE_SCOPES,
    generation_curves,
    lineage,
    operator_yield,
    pending_generations,
    run_map,
    topic_coverage_frame,
)
from infosynth_core.projection import warm_up
from infosynth_core.runner import run_status
from infosynth_core.textsafe import escape_hover, escape_markdown
from pages.common import runs_or_stop, show_error, show_problem, use_app_navigation

use_app_navigation()

REFRESH_S = 3  # seconds between refreshes while a run is running (at least)
MAX_REFRESH_S = 20
LIVE = ("created", "running", "paused")  # created: the runner process is starting
COLOR_BY = ("generation", "operator", "topic", "status", "colony", "test strength")
STRENGTH = "test strength"  # a continuous colour: the map's ``test_strength`` column
TOP_TOPICS = 20
SEED_GREY = "#9a9a9a"

st.title("Explore")
st.caption(
    "A run's problems on a 2-D map of their sentence embeddings (fitted on the seeds, so "
    "points keep their place as the run grows), novelty and diversity per generation, topic "
    "coverage and per-operator yield."
)
warm_up()  # compile UMAP in the background while the page loads

store, runs = runs_or_stop(
    "**No runs yet.** Start one on the **Synthesize** page; its map, curves and operator "
    "yield appear here while it runs.",
)

ids = [r.id for r in runs]
wanted = st.query_params.get("run")
if wanted and wanted != st.session_state.get("_explore_query_run"):
    st.session_state["_explore_query_run"] = wanted  # follow a new link once
    if wanted in ids:
        st.session_state["explore_run"] = wanted
    else:
        st.warning(
            f"Run '{escape_markdown(wanted)}' (from the address) is not in this store; "
            "pick one below."
        )
if st.session_state.get("explore_run") not in ids:
    st.session_state["explore_run"] = ids[0]
labels = {r.id: f"{r.id} · {r.name}" if r.name else r.id for r in runs}
run_id = st.selectbox("Run", ids, key="explore_run", format_func=labels.get)
st.query_params["run"] = run_id
st.session_state["_explore_query_run"] = run_id
if st.session_state.get("_explore_map_run") != run_id:  # a new run: reset its view state
    st.session_state["_explore_map_run"] = run_id
    for key in ("explore_generation", "_explore_generation_max", "explore_problem_id"):
        st.session_state.pop(key, None)


def items_frame(items: list[dict]) -> pd.DataFrame:
    """Parents or children of a problem as a small table."""
    rows = [
        {
            "id": i["stored"].problem.id,
            "set": i["set"],
            "operator": i["stored"].problem.origin.operator,
            "generation": i["stored"].problem.origin.generation,
            "status": i["stored"].problem.status,
            "statement": " ".join(i["stored"].problem.problem.split())[:160],
        }
        for i in items
    ]
    return pd.DataFrame(
        rows, columns=["id", "set", "operator", "generation", "status", "statement"]
    )


def draw_problem(run_id: str, key: str) -> None:
    try:
        lin = lineage(store, key, run_id=run_id)
    except InfoSynthError as exc:
        show_error(exc)
        return
    left, right = st.columns(2)
    with left:
        st.markdown(f"**Parents** ({len(lin['parents'])})")
        if lin["parents"]:
            st.dataframe(items_frame(lin["parents"]), hide_index=True, key="explore_parents")
        else:
            st.caption("None: a seed." if lin["set"] == "seed" else "None recorded.")
        if lin["missing_parents"]:
            missing = escape_markdown(", ".join(lin["missing_parents"]))
            st.caption(f"Not found in this run or its seed set: {missing}")
    with right:
        st.markdown(f"**Children** ({len(lin['children'])})")
        if lin["children"]:
            st.dataframe(items_frame(lin["children"]), hide_index=True, key="explore_children")
        else:
            st.caption("No problem of this run was made from it (yet).")
    show_problem(lin["problem"].problem)


def strength_text(shown: pd.DataFrame) -> pd.Series:
    """The hover's "· tests reject K of N mutants" for scored points, "" for the others."""
    killed, total = shown["mutants_killed"], shown["mutants_total"]
    text = " · tests reject " + killed.astype("string") + " of " + total.astype("string")
    return (text + " mutants").fillna("")


def strength_traces(fig: go.Figure, shown: pd.DataFrame, custom, template: str) -> None:
    """Seeds (open, grey), unscored problems (grey) and scored ones on Viridis, 0 to 1."""
    seed = (shown["set"] == "seed").to_numpy()
    score = shown["test_strength"].to_numpy(dtype=float)
    scored = ~seed & np.isfinite(score)
    for name, mask, symbol in (
        ("seeds", seed, "circle-open"),
        ("no mutation score", ~seed & ~scored, "circle"),
    ):
        fig.add_trace(
            go.Scattergl(
                x=shown["x"][mask], y=shown["y"][mask], mode="markers", name=name,
                customdata=custom[mask], hovertemplate=template,
                marker={"size": 7, "color": SEED_GREY, "symbol": symbol,
                        "line": {"width": 1.2, "color": SEED_GREY}},
            )
        )  # fmt: skip
    fig.add_trace(
        go.Scattergl(
            x=shown["x"][scored], y=shown["y"][scored], mode="markers", name="mutation score",
            customdata=custom[scored], hovertemplate=template,
            marker={
                "size": 7, "color": score[scored], "colorscale": "Viridis", "cmin": 0.0,
                "cmax": 1.0, "showscale": True,
                "colorbar": {"title": {"text": "mutation score"}, "thickness": 12},
            },
        )
    )  # fmt: skip


def map_figure(df: pd.DataFrame, shown: pd.DataFrame, color_by: str) -> go.Figure:
    """One WebGL trace per colour; seeds are open circles, grey unless coloured by topic.
    Coloured by test strength, the scored problems share one trace on a continuous scale.
    Axes span every point of the run, so the generation slider never moves the map. Stored
    text (ids, topics, statements, legend names) is escaped: Plotly renders HTML in labels."""
    seed = shown["set"] == "seed"
    facts = (
        shown["set"] + " · gen " + shown["generation"].astype(str) + " · " + shown["operator"]
        + " · " + shown["status"] + " · " + shown["topic"] + strength_text(shown)
    ).map(escape_hover)  # fmt: skip
    hover = shown["statement"].map(lambda s: escape_hover(s, wrap=70))
    custom = np.column_stack([shown["key"], shown["id"].map(escape_hover), facts, hover])
    template = "<b>%{customdata[1]}</b> · %{customdata[2]}<br>%{customdata[3]}<extra></extra>"
    fig = go.Figure()
    if color_by == STRENGTH:
        strength_traces(fig, shown, custom, template)
    else:
        colour = shown[color_by].astype("string").fillna("seeds")
        if color_by != "topic":
            colour = colour.mask(seed, "seeds")
        names = sorted(set(colour), key=lambda c: (c != "seeds", int(c) if c.isdigit() else 0, c))
        # 48 distinct colours (a run's topics can number 38 or more), then shapes as well
        palette = px.colors.qualitative.Dark24 + px.colors.qualitative.Light24
        shapes = ("circle", "square", "diamond", "triangle-up")
        for i, name in enumerate(names):
            mask = (colour == name).to_numpy()
            color = SEED_GREY if name == "seeds" else palette[i % len(palette)]
            shape = shapes[(i // len(palette)) % len(shapes)]
            fig.add_trace(
                go.Scattergl(
                    x=shown["x"][mask], y=shown["y"][mask], mode="markers", name=escape_hover(name),
                    customdata=custom[mask],
                    marker={
                        "size": 7, "color": color, "line": {"width": 1.2, "color": color},
                        "symbol": np.where(seed.to_numpy()[mask], f"{shape}-open", shape).tolist(),
                    },
                    hovertemplate=template,
                )
            )  # fmt: skip
    pad_x = (df["x"].max() - df["x"].min()) * 0.05 + 1e-6
    pad_y = (df["y"].max() - df["y"].min()) * 0.05 + 1e-6
    fig.update_layout(
        height=520, margin={"l": 0, "r": 0, "t": 10, "b": 0}, legend_title_text=color_by,
        xaxis={"range": [df["x"].min() - pad_x, df["x"].max() + pad_x], "visible": False},
        yaxis={"range": [df["y"].min() - pad_y, df["y"].max() + pad_y], "visible": False},
    )  # fmt: skip
    return fig


def draw_map(run_id: str) -> bool:
    """The map and the problem opened on it; returns whether the layout was (re)fitted."""
    st.subheader("Map")
    try:
        with st.spinner("Placing problems on the map (UMAP compiles once per server, ~30 s)…"):
            df = run_map(store, run_id)
    except InfoSynthError as exc:
        show_error(exc)
        return True
    c1, c2 = st.columns([3, 2])
    color_by = c1.radio("Colour by", COLOR_BY, horizontal=True, key="explore_color")
    max_gen = int(df["generation"].max()) if len(df) else 0
    if max_gen >= 1:
        # follow new generations unless the user moved the slider back
        prev = st.session_state.get("_explore_generation_max")
        if st.session_state.get("explore_generation") in (None, prev) or (
            st.session_state["explore_generation"] > max_gen
        ):
            st.session_state["explore_generation"] = max_gen
        st.session_state["_explore_generation_max"] = max_gen
        upto = c2.slider("Show up to generation", 0, max_gen, key="explore_generation")
    else:
        upto = 0
        c2.caption("No generated problems yet: the map shows the seeds.")
    shown = df[df["generation"] <= upto]
    event = st.plotly_chart(
        map_figure(df, shown, color_by), key="explore_map", on_select="rerun",
        selection_mode=("points", "box", "lasso"),
    )  # fmt: skip
    note = f"{len(shown):,} of {df.attrs['total']:,} points"
    if df.attrs["dropped"]:
        note += f" ({df.attrs['dropped']:,} left out to keep the map fast, evenly per generation)"
    st.caption(note + ". Open circles: seeds. Click a point, or select with box or lasso.")

    picked = [p["customdata"][0] for p in event.selection.get("points", []) if p.get("customdata")]
    typed = st.text_input(
        "Open a problem by id", key="explore_problem_id", placeholder="e.g. g1-c0-s0-0 or seed-001"
    ).strip()
    key = None
    if len(picked) > 1:
        names = dict(zip(df["key"], df["id"], strict=True))
        st.caption(f"{len(picked)} points selected.")
        key = st.selectbox("Open", picked, key="explore_pick", format_func=names.get)
    elif picked:
        key = picked[0]
    elif typed:
        match = df[df["id"] == typed].sort_values("set")  # a run problem before a seed
        if match.empty:
            st.warning(f"No problem with id '{escape_markdown(typed)}' on this run's map.")
        else:
            key = match["key"].iloc[0]
    if key:
        draw_problem(run_id, key)
    return df.attrs["refitted"]


def band_trace(x, low, high, name: str, color: str) -> go.Scatter:
    return go.Scatter(
        x=[*x, *x[::-1]], y=[*high, *low[::-1]], fill="toself", fillcolor=color, opacity=0.2,
        line={"width": 0}, hoverinfo="skip", showlegend=False, name=f"{name} 95% interval",
    )  # fmt: skip


def mean_trace(df: pd.DataFrame, prefix: str, name: str, color: str) -> go.Scatter:
    mean, low, high = (df[f"{prefix}_{p}"] for p in ("mean", "low", "high"))
    return go.Scatter(
        x=df["generation"], y=mean, name=name, mode="lines+markers", line={"color": color},
        error_y={"type": "data", "symmetric": False, "array": high - mean, "arrayminus": mean - low},
    )  # fmt: skip


def _fits_caption(curves: pd.DataFrame, n_col: str) -> str:
    """'F fits × D draws at N = n' for the last generation; 'no interval' with one fit."""
    last = curves.iloc[-1]
    fits = int(last["fits"]) if pd.notna(last["fits"]) else 1
    draws = int(last["draws"]) if pd.notna(last["draws"]) else 1
    n = int(last[n_col]) if pd.notna(last[n_col]) else 0
    if fits < 2:
        return f"one UMAP fit × {draws} draw(s) at N = {n}: no interval (use ≥ 2 fits)"
    return f"2.5–97.5% range over {fits} UMAP fits × {draws} draws at N = {n}"


def _calibrated_figures(curves: pd.DataFrame, left, right) -> None:
    gens = list(curves["generation"])
    for col, key, title, prefix, color in (
        (left, "explore_novelty", "Novelty beyond the seeds (nats)", "novelty_excess", "#4c78a8"),
        (right, "explore_diversity", "Diversity beyond the seeds (nats)", "diversity_excess",
         "#f58518"),
    ):  # fmt: skip
        fig = go.Figure()
        if len(gens) > 1 and curves[f"{prefix}_low"].notna().any():
            fig.add_trace(
                band_trace(
                    gens, list(curves[f"{prefix}_low"]), list(curves[f"{prefix}_high"]), prefix,
                    color,
                )
            )  # fmt: skip
        fig.add_trace(mean_trace(curves, prefix, "excess over held-out seeds", color))
        fig.add_hline(
            y=0, line_dash="dash", line_color="#888",
            annotation_text="= more seeds", annotation_position="bottom right",
        )  # fmt: skip
        fig.update_layout(
            title=title, height=340, xaxis_title="generation", yaxis_title="nats",
            margin={"t": 40, "b": 0}, xaxis={"dtick": 1}, showlegend=False,
        )  # fmt: skip
        col.plotly_chart(fig, key=key)


def _raw_figures(curves: pd.DataFrame, left, right) -> None:
    gens = list(curves["generation"])
    fig = go.Figure()
    if len(gens) > 1 and curves["novelty_low"].notna().any():
        fig.add_trace(
            band_trace(
                gens, list(curves["novelty_low"]), list(curves["novelty_high"]), "novelty",
                "#4c78a8",
            )
        )  # fmt: skip
    fig.add_trace(mean_trace(curves, "novelty", "D(generated‖seeds)", "#4c78a8"))
    fig.update_layout(
        title="Raw novelty: KL divergence (nats)", height=340, xaxis_title="generation",
        yaxis_title="nats", margin={"t": 40, "b": 0}, xaxis={"dtick": 1},
    )  # fmt: skip
    left.plotly_chart(fig, key="explore_novelty")
    fig = go.Figure()
    for prefix, name, color in (
        ("diversity_generated", "generated", "#f58518"),
        ("diversity_seeds", "seeds", "#54a24b"),
    ):
        if len(gens) > 1 and curves[f"{prefix}_low"].notna().any():
            fig.add_trace(
                band_trace(
                    gens, list(curves[f"{prefix}_low"]), list(curves[f"{prefix}_high"]), name, color
                )
            )
        fig.add_trace(mean_trace(curves, prefix, name, color))
    fig.update_layout(
        title="Raw diversity: entropy at matched N (nats)", height=340,
        xaxis_title="generation", yaxis_title="nats", margin={"t": 40, "b": 0},
        xaxis={"dtick": 1},
    )  # fmt: skip
    right.plotly_chart(fig, key="explore_diversity")


def draw_curves(run_id: str) -> None:
    st.subheader("Novelty and diversity")
    c1, c2 = st.columns(2)
    view = c1.radio(
        "Values",
        ["calibrated", "raw"],
        format_func={"calibrated": "Calibrated (excess over held-out seeds)", "raw": "Raw"}.get,
        horizontal=True,
        key="explore_curve_view",
        help="Raw k-NN estimates move with N (about 3 nats per e-fold here), so raw values of "
        "sets of different sizes cannot be compared. Calibrated values subtract the same "
        "estimator applied, in the same fit, to as many held-out seeds: 0 means "
        "indistinguishable from more seeds.",
    )
    scope = c2.radio(
        "Problems",
        list(CURVE_SCOPES),
        format_func={"all": "All verified so far", "generation": "This generation's"}.get,
        horizontal=True,
        key="explore_curve_scope",
        disabled=view == "raw",
    )
    try:
        curves = generation_curves(store, run_id, scope=scope if view == "calibrated" else "all")
        metrics = store.get_run(run_id).config.get("metrics") or {}
        pending = pending_generations(store, run_id)
    except InfoSynthError as exc:
        show_error(exc)
        return
    if pending:
        gens = ", ".join(str(g) for g in pending)
        st.caption(
            f"Generation {gens}: novelty and diversity are being measured in the background "
            "(a stopped run measures them when it resumes)."
        )
    if curves.empty:
        if metrics.get("enabled") is False:
            st.info("Metrics are off in this run's config (`[metrics] enabled = false`).")
        else:
            k = metrics.get("k", 4)
            st.info(
                "Novelty and diversity appear after the first generation with ≥ k + 2 = "
                f"{k + 2} verified problems (k = {k}).",
                icon=":material/info:",
            )
        return
    left, right = st.columns(2)
    if view == "calibrated":
        measured = curves[curves["novelty_excess_mean"].notna()]
        few = curves[curves["too_few"].notna()]
        for _, row in few.iterrows():
            st.caption(
                f"Generation {int(row['generation'])}: {escape_markdown(str(row['too_few']))}."
            )
        if measured.empty:
            if few.empty:
                st.info(
                    "This run's metrics were recorded before calibration; switch to *Raw*.",
                    icon=":material/info:",
                )
            return
        _calibrated_figures(measured, left, right)
        what = "all problems verified so far" if scope == "all" else "each generation's problems"
        st.caption(
            f"Excess over the null, for {what}: the same estimator applied, in the same fit, to "
            "held-out seeds of the same N (KL divergence against the remaining seeds; "
            "Kozachenko–Leonenko entropy). 0 = indistinguishable from more seeds; "
            f"{_fits_caption(measured, 'calibrated_n')}."
        )
        return
    _raw_figures(curves, left, right)
    st.caption(
        "Raw values for all problems verified so far; "
        f"{_fits_caption(curves, 'matched_n')}. Raw estimates drift with N (about 3 nats per "
        "e-fold here) and are not comparable between sets of different sizes: prefer the "
        "calibrated view."
    )


def draw_coverage(run_id: str) -> None:
    st.subheader("Topic coverage")
    try:
        cov = topic_coverage_frame(store, run_id)
    except InfoSynthError as exc:
        show_error(exc)
        return
    if cov.empty:
        st.caption("No topics on the seeds or the verified problems yet.")
        return
    top = cov.head(TOP_TOPICS).melt(id_vars="topic", var_name="set", value_name="share")
    top["topic"] = top["topic"].map(escape_hover)  # tick labels render HTML
    fig = px.bar(
        top, x="topic", y="share", color="set", barmode="group",
        color_discrete_map={"seeds": "#54a24b", "generated": "#f58518"},
    )  # fmt: skip
    fig.update_layout(height=360, yaxis_tickformat=".0%", margin={"t": 10, "b": 0})
    st.plotly_chart(fig, key="explore_coverage")
    st.caption(
        f"Share of problems tagged with each topic (up to 3 per problem); the {min(TOP_TOPICS, len(cov))} "
        f"most common of {len(cov)} topics. Generated = verified problems of the benchmark."
    )


def draw_yield(run_id: str) -> None:
    st.subheader("Operator yield")
    try:
        table = operator_yield(store, run_id)
    except InfoSynthError as exc:
        show_error(exc)
        return
    st.dataframe(
        table, hide_index=True, key="explore_yield",
        column_config={
            "degenerate": st.column_config.NumberColumn(
                "degenerate",
                help="Passed their tests but rejected: constant answers, an ignored argument, "
                "duplicate tests or a copy of a parent. Not counted as verified.",
            ),
            "verified_pct": st.column_config.NumberColumn("verified %", format="%.1f"),
            "tokens_per_verified": st.column_config.NumberColumn("tokens / verified", format="%.0f"),
            "cost_usd": st.column_config.NumberColumn("cost (USD)", format="%.4f"),
            "benchmark": st.column_config.NumberColumn("in benchmark"),
            "delta_novelty": st.column_config.NumberColumn("Δnovelty", format="%+.3f"),
            "test_strength": st.column_config.NumberColumn(
                "test strength", format="%.2f",
                help="Mean mutation score of the operator's benchmark problems: the share of "
                "small mutants of the reference solution that the tests reject (0–1; a lower "
                "bound, as equivalent mutants cannot be rejected). Empty for older runs.",
            ),
        },
    )  # fmt: skip
    st.caption(
        "Verified % = verified / kept. Δnovelty = mean cosine distance (sentence embeddings) "
        "from the operator's benchmark problems to their nearest seed, minus that of the seeds "
        "to their nearest other seed: above 0, farther from the seeds than seeds are from each "
        "other. Test strength = mean share of mutants the tests reject."
    )


def refresh_every() -> int:
    """Seconds between live refreshes: REFRESH_S, or twice the last drawing time when that is
    longer (large runs, a busy machine), up to MAX_REFRESH_S."""
    return min(MAX_REFRESH_S, max(REFRESH_S, round(2 * st.session_state.get("_explore_draw_s", 0))))


def live_view(run_id: str, was_live: bool, every: int | None) -> None:
    started = time.monotonic()
    try:
        status = run_status(store, run_id)
    except InfoSynthError as exc:
        show_error(exc)
        return
    if was_live and status["status"] not in LIVE:
        st.rerun()  # the run ended: one full rerun draws the final state and stops polling
    try:
        done = len(store.generation_metrics(run_id))
        planned = store.get_run(run_id).config.get("generations", "?")
    except InfoSynthError as exc:
        show_error(exc)
        return
    progress = status["progress"] or {}
    cols = st.columns(4)
    cols[0].metric("Status", status["status"])
    cols[1].metric("Generations done", f"{done} / {planned}")
    cols[2].metric("Verified", status["verified"])
    if progress.get("eta_s") is not None and status["status"] in LIVE:
        cols[3].metric("ETA", f"{progress['eta_s'] / 60:.0f} min")
    if status["error"]:
        st.warning(escape_markdown(status["error"]))
    map_box = st.container()  # drawn last: the curves show while the map is being placed
    draw_curves(run_id)
    draw_coverage(run_id)
    draw_yield(run_id)
    with map_box:
        refitted = draw_map(run_id)
    if not refitted:  # a fit (and UMAP's first compile) is a one-off, not the refresh cost
        st.session_state["_explore_draw_s"] = time.monotonic() - started
    if every and refresh_every() > 1.5 * every:
        st.rerun()  # slow to draw: refresh less often from now on


try:
    current = run_status(store, run_id)["status"]
except InfoSynthError as exc:
    show_error(exc)
    st.stop()
is_live = current in LIVE
every = refresh_every() if is_live else None
if every:
    st.caption(f"The run is {current}: this view refreshes every {every} s.")
st.fragment(run_every=every)(live_view)(run_id, is_live, every)
