"""Seeds: pick the bundled seed set or upload a file, check it, preview it, save it by name."""

from pathlib import Path

import pandas as pd
import streamlit as st

from infosynth_core import (
    BUNDLED_SEED_SET,
    FORMATS,
    InfoSynthError,
    LoadedSeeds,
    Settings,
    file_columns,
    load_bundled_seeds,
    load_problems,
)
from infosynth_core.textsafe import escape_hover, escape_markdown, markdown_code
from pages.common import (
    get_settings,
    get_store,
    problems_frame,
    seed_sets_frame,
    show_error,
    show_problem,
    use_app_navigation,
)

use_app_navigation()

MAPPABLE = ("problem", "id", "solution", "tests", "entry_point", "topics", "difficulty")
NONE = "—"


@st.cache_data(show_spinner="Reading the file…", max_entries=8)
def _load_upload(
    data: bytes, filename: str, fmt: str, mapping: tuple, settings_json: str, drop_unused: bool
) -> LoadedSeeds:
    return load_problems(
        data,
        filename=filename,
        format=fmt,
        mapping=dict(mapping) or None,
        settings=Settings.model_validate_json(settings_json),
        allow_dropped_columns=drop_unused,
    )


@st.cache_data(show_spinner=False)
def _load_bundled() -> LoadedSeeds:
    return load_bundled_seeds()


def _summary(loaded: LoadedSeeds) -> str:
    n_ref = sum(p.has_reference for p in loaded.problems)
    topics = {t for p in loaded.problems for t in p.topics}
    return (
        f"**{len(loaded.problems)} problems** read from {markdown_code(loaded.source)} as "
        f"*{escape_markdown(loaded.format)}* · "
        f"{n_ref} with solution and tests · {len(topics)} topics"
    )


st.title("Seeds")
st.caption(
    "Seed problems are what a run evolves. Use the bundled set (written for InfoSynth) or "
    "upload JSONL, CSV or Parquet in the canonical, MBPP, HumanEval or LeetCodeDataset shape."
)

if "seeds_flash" in st.session_state:
    st.success(escape_markdown(st.session_state.pop("seeds_flash")), icon=":material/check_circle:")

try:
    settings = get_settings()
    store = get_store()
    saved = store.list_seed_sets()
except InfoSynthError as exc:
    show_error(exc)
    st.stop()


# ---------------------------------------------------------------- saved seed sets
def draw_topic_check(name: str, problems: list) -> None:
    """The paper's validation (§3.2) with a random-subset control, on this set's topics."""
    from infosynth_core.embed import Embedder
    from infosynth_core.sanity import checkable_topics, topic_check

    st.caption(
        "The problems of one topic, measured against the rest of the set, should read more "
        "novel and less diverse than random subsets of the rest of the same size, measured in "
        "the same joint UMAP fits (the InfoSynth paper's validation, §3.2, with a control). "
        "A check that fails says the embedding and projection do not separate that topic."
    )
    topics = checkable_topics(problems)
    if not topics:
        st.info(
            "No topic of this set has at least 30 problems and twice as many others, so the "
            "check cannot run here (LeetCode-style sets with topics can).",
            icon=":material/info:",
        )
        return
    c1, c2 = st.columns([3, 1])
    topic = c1.selectbox(
        "Topic", list(topics), key="seeds_check_topic", format_func=lambda t: f"{t} ({topics[t]})"
    )
    fits = c2.number_input("UMAP fits", 1, 30, 10, key="seeds_check_fits")
    key = (name, topic, int(fits))
    if st.button("Run the check", key="seeds_check_run"):
        bar = st.progress(0.0, text="Embedding the statements…")
        try:
            result = topic_check(
                problems,
                topic,
                embed=Embedder(store=store).encode,
                fits=int(fits),
                progress=lambda d, t: bar.progress(d / t, text=f"UMAP fit {d} of {t}"),
            )
        except InfoSynthError as exc:
            show_error(exc)
            return
        bar.empty()
        st.session_state.setdefault("seeds_checks", {})[key] = result
    result = st.session_state.get("seeds_checks", {}).get(key)
    if result is None:
        return
    (st.success if result.passed else st.warning)(escape_markdown(result.verdict))

    def _fmt(est: dict) -> str:
        if est.get("low") is None:
            return f"{est['mean']:+.2f}"
        return f"{est['mean']:+.2f} [{est['low']:+.2f}, {est['high']:+.2f}]"

    st.dataframe(
        pd.DataFrame(
            {
                "measure (nats)": ["novelty vs the rest", "diversity (entropy)"],
                f"'{result.topic}' subset": [
                    _fmt(result.novelty), _fmt(result.diversity)
                ],
                "random subsets (control)": [
                    _fmt(result.novelty_control), _fmt(result.diversity_control)
                ],
                "excess": [_fmt(result.novelty_excess), _fmt(result.diversity_excess)],
            }
        ),
        hide_index=True,
        key="seeds_check_table",
    )  # fmt: skip
    st.caption(
        f"N = {result.n} of {result.n_topic} '{escape_markdown(result.topic)}' problems against "
        f"{result.n_rest} others; {result.fits} UMAP fits × {result.draws} draws; 95% intervals "
        "in brackets (none with one fit)."
    )


st.subheader("Saved seed sets")
st.dataframe(seed_sets_frame(saved), hide_index=True, key="seeds_saved_table")
names = [s.name for s in saved]
if names:
    default = names.index(BUNDLED_SEED_SET) if BUNDLED_SEED_SET in names else 0
    chosen = st.selectbox("Show the problems of", names, index=default, key="seeds_view_set")
    problems = store.seed_set_problems(chosen)
    diff = pd.Series([p.difficulty or "unknown" for p in problems]).value_counts()
    st.caption(f"{len(problems)} problems · " + " · ".join(f"{k}: {v}" for k, v in diff.items()))
    st.dataframe(problems_frame(problems), hide_index=True, key="seeds_view_table")

    if st.toggle(
        "Map of this set, coloured by topic",
        key="seeds_map",
        help="Sentence embeddings of the statements in a 2-D UMAP layout (the first map "
        "takes a few seconds; embeddings are cached).",
    ):
        try:
            import plotly.express as px

            from infosynth_core.explore import seed_map

            with st.spinner("Embedding and laying out the statements…"):
                points = seed_map(store, chosen)
            # Plotly renders HTML in hover labels and legend entries: stored text is escaped
            points = points.assign(
                **{
                    c: points[c].map(escape_hover)
                    for c in ("id", "statement", "difficulty", "topic")
                }
            )
            fig = px.scatter(
                points,
                x="x",
                y="y",
                color="topic",
                hover_name="id",
                hover_data={"statement": True, "difficulty": True, "x": False, "y": False},
                render_mode="webgl",
                height=520,
            )
            fig.update_layout(xaxis_title=None, yaxis_title=None, legend_title_text="topic")
            fig.update_xaxes(showticklabels=False)
            fig.update_yaxes(showticklabels=False)
            st.plotly_chart(fig, key="seeds_map_chart")
        except InfoSynthError as exc:
            show_error(exc)

    with st.expander("Sanity check of the metrics on this set"):
        draw_topic_check(chosen, problems)

    with st.expander("Inspect a problem"):
        by_id = {p.id: p for p in problems}
        pid = st.selectbox("Problem", list(by_id), key="seeds_inspect_id")
        if pid is not None:
            show_problem(by_id[pid])

    with st.expander(f"Delete seed set '{escape_markdown(chosen)}'"):
        note = " It is imported again at the next start." if chosen == BUNDLED_SEED_SET else ""
        st.caption(f"Removes the set and its {len(problems)} problems from the store.{note}")
        sure = st.checkbox(f"Yes, delete '{escape_markdown(chosen)}'", key="seeds_delete_confirm")
        if st.button("Delete", key="seeds_delete", disabled=not sure):
            try:
                store.delete_seed_set(chosen)
            except InfoSynthError as exc:
                show_error(exc)
            else:
                st.session_state["seeds_flash"] = f"Deleted seed set '{chosen}'."
                st.rerun()

# ---------------------------------------------------------------- add a seed set
st.subheader("Add a seed set")
source = st.radio("Source", ["Bundled seeds", "Upload a file"], horizontal=True, key="seeds_source")

loaded: LoadedSeeds | None = None
default_name = "my-seeds"
if source == "Bundled seeds":
    loaded = _load_bundled()
else:
    upload = st.file_uploader(
        "Problem file (JSONL, JSON, CSV or Parquet)",
        type=["jsonl", "ndjson", "json", "csv", "parquet", "pq"],
        key="seeds_upload",
    )
    fmt = st.selectbox(
        "Format",
        ["auto", *FORMATS],
        key="seeds_format",
        help="auto detects the format from the column names",
    )
    drop_unused = st.checkbox(
        "Import even if columns are dropped",
        key="seeds_drop_unused",
        help="Solution or test columns that the chosen format does not use (and unknown fields "
        "of a canonical file) are refused unless this is on; then they are dropped and listed.",
    )
    mapping: dict[str, str] = {}
    if upload is not None:
        data = upload.getvalue()
        default_name = Path(upload.name).stem
        with st.expander("Map columns yourself (when auto-detection gets it wrong)"):
            if st.checkbox("Use my column mapping", key="seeds_use_mapping"):
                try:
                    columns = file_columns(data, filename=upload.name, settings=settings)
                except InfoSynthError as exc:
                    show_error(exc)
                    columns = []
                for field in MAPPABLE:
                    col = st.selectbox(field, [NONE, *columns], key=f"seeds_map_{field}")
                    if col != NONE:
                        mapping[field] = col
        try:
            loaded = _load_upload(
                data,
                upload.name,
                fmt,
                tuple(sorted(mapping.items())),
                settings.model_dump_json(),
                drop_unused,
            )
        except InfoSynthError as exc:
            show_error(exc)
    else:
        st.info("Choose a file to preview it. Nothing is stored until you save.")

if loaded is not None:
    st.success(_summary(loaded))
    for warning in loaded.warnings:  # dropped columns, columns kept in metadata
        st.warning(escape_markdown(warning), icon=":material/warning:")
    st.dataframe(problems_frame(loaded.problems), hide_index=True, key="seeds_preview_table")
    c1, c2 = st.columns([3, 1])
    name = c1.text_input("Save as seed set", value=default_name, key="seeds_name")
    replace = c2.checkbox("Replace if it exists", key="seeds_replace")
    if st.button("Save seed set", type="primary", key="seeds_save"):
        try:
            info = loaded.save(store, name, replace=replace)
        except InfoSynthError as exc:
            show_error(exc)
        else:
            st.session_state["seeds_flash"] = (
                f"Saved {info.n_problems} problems as seed set '{info.name}'."
            )
            st.rerun()
