"""Review: curate a run's problems — filter, accept or reject in bulk (table rows or a lasso on
the map), inspect one problem in full, edit it with re-verification in the sandbox, export."""

import zlib

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from infosynth_core import EXPORT_FORMATS, REVIEWS, STATUSES, InfoSynthError, find_exports
from infosynth_core.explore import run_map
from infosynth_core.review import (
    REVIEW_DECISIONS,
    accepted_count,
    accepted_jsonl,
    default_export_name,
    edit_problem,
    export_accepted,
    export_dir,
    export_folder,
    export_target,
    outcome_rows,
    problem_detail,
    review_frame,
    review_summary,
    sandbox_for_run,
    set_review,
)
from infosynth_core.strength import describe_strength
from infosynth_core.textsafe import escape_hover, escape_markdown, markdown_code
from pages.common import runs_or_stop, show_error, use_app_navigation

use_app_navigation()

VERBS = {"accepted": "Accept", "rejected": "Reject", "pending": "Reset to pending"}
BULK = {"accepted": "Accept selected", "rejected": "Reject selected", "pending": "Reset selected"}
ICONS = {"accepted": ":material/check:", "rejected": ":material/close:"}
ICONS["pending"] = ":material/undo:"
BADGE = {"accepted": "green", "rejected": "red", "pending": "gray"}
MAP_COLORS = {"accepted": "#2e9d5b", "rejected": "#d1495b", "pending": "#4c78a8"}
TABLE_ORDER = "id review status statement operator generation colony topics difficulty".split()
TABLE_ORDER += ["rounds", "coverage", "test_strength"]
FLASH = "review_flash"  # (place, kind, message): shown once, after the rerun, where it happened

st.title("Review")
st.caption(
    "Curate a run: filter its problems, accept or reject them in bulk, read one in full, "
    "edit it (re-verified in the sandbox at once) and export what you accepted."
)


SELECTION_EPOCH = "_review_selection_epoch"  # bumped by a bulk decision


def flash(place: str, kind: str, message: str) -> None:
    """Keep a message for the next run and rerun, so every view shows the new state."""
    st.session_state[FLASH] = (place, kind, message)
    st.rerun()


def show_flash(place: str) -> None:
    if st.session_state.get(FLASH, ("",))[0] == place:
        _, kind, message = st.session_state.pop(FLASH)
        getattr(st, kind)(message)


def decide(store, pks: list[int], decision: str, place: str, note: str = "") -> None:
    try:
        override = bool(st.session_state.get("review_override", False))
        changed = set_review(store, pks, decision, note=note, override=override)
    except InfoSynthError as exc:
        show_error(exc)
        return
    if place == "bulk":  # the table's and the map's selections start empty again (new keys)
        st.session_state[SELECTION_EPOCH] = st.session_state.get(SELECTION_EPOCH, 0) + 1
    flash(place, "success", f"{VERBS[decision]}: {len(pks)} problem(s), {changed} changed state.")


def draw_map(store, run_id: str, frame: pd.DataFrame) -> list[int]:
    """The run's problems (those the filters keep) over its seeds in the embedding map;
    returns the pks picked with a click, box or lasso."""
    try:
        with st.spinner("Placing the run's problems on the map…"):
            points = run_map(store, run_id)
    except InfoSynthError as exc:
        show_error(exc)
        return []
    if points.attrs.get("dropped"):
        st.caption(
            f"Showing {len(points)} of {points.attrs['total']} points (evenly downsampled); "
            "the table lists every problem."
        )
    shown = set(frame["pk"])
    review = dict(zip(frame["pk"], frame["review"], strict=True))
    fig = go.Figure()
    seeds = points[points["set"] == "seed"]
    fig.add_trace(
        go.Scattergl(
            x=seeds["x"],
            y=seeds["y"],
            mode="markers",
            name="seeds",
            hoverinfo="text",
            text=seeds["id"].map(escape_hover),
            marker={"size": 5, "color": "#bbbbbb"},
            customdata=[[-1]] * len(seeds),
        )
    )
    generated = points[(points["set"] == "generated") & points["pk"].isin(shown)]
    for state in REVIEWS:
        part = generated[generated["pk"].map(review) == state]
        fig.add_trace(
            go.Scattergl(
                x=part["x"],
                y=part["y"],
                mode="markers",
                name=state,
                text=part[["id", "operator", "status"]].agg(" · ".join, axis=1).map(escape_hover)
                + "<br>"
                + part["statement"].str.slice(0, 100).map(escape_hover),
                hoverinfo="text",
                customdata=[[int(pk)] for pk in part["pk"]],
                marker={"size": 8, "color": MAP_COLORS[state]},
            )
        )
    fig.update_layout(
        dragmode="lasso",
        height=420,
        margin={"l": 0, "r": 0, "t": 10, "b": 0},
        legend={"orientation": "h"},
        xaxis={"visible": False},
        yaxis={"visible": False},
    )
    event = st.plotly_chart(
        fig,
        key=f"review_map_{st.session_state.get(SELECTION_EPOCH, 0)}",
        on_select="rerun",
        selection_mode=("points", "box", "lasso"),
    )
    chosen = (event.get("selection") or {}).get("points", [])  # a dict-like state
    picked = [p.get("customdata", [-1])[0] for p in chosen]
    return [int(pk) for pk in picked if pk is not None and int(pk) in shown]


def draw_attempts(detail: dict) -> None:
    if not detail["attempts"]:
        st.caption("No verification attempts stored.")
    last = len(detail["attempts"]) - 1
    for i, a in enumerate(detail["attempts"]):
        n_ok = sum(v == "passed" for v in a.outcomes.values())
        cov = a.details.get("coverage")
        label = (
            f"Round {a.round}{' (edit)' if a.details.get('edit') else ''}: "
            f"**{escape_markdown(a.status)}** · "
            f"{n_ok}/{len(a.outcomes)} tests · {a.details.get('n_asserts', 0)} asserts · "
            f"coverage {'–' if cov is None else f'{cov:.0%}'} · {a.duration_s or 0:.2f} s"
        )
        with st.expander(label, expanded=i == last):
            if a.outcomes:
                outcomes = pd.DataFrame(outcome_rows(a))
                key = f"review_outcomes_{detail['pk']}_{i}"
                st.dataframe(outcomes, hide_index=True, width="stretch", key=key)
            for note in a.details.get("notes", []):
                st.caption(f"Note: {escape_markdown(note)}")
            st.caption("Execution output")
            st.code(a.output or "(no output)", language="text")


def draw_lineage(detail: dict) -> None:
    """Parents and children (stored text escaped: a statement is never markup) and diffs."""
    p = detail["problem"]
    st.markdown(
        f"**{p.origin.operator}** · generation {p.origin.generation} · colony {p.origin.colony}"
    )
    for parent in detail["parents"]:
        pid = markdown_code(parent["id"])
        if parent["problem"] is None:
            st.markdown(f"- parent {pid} (not found in the run or its seed set)")
        else:
            text = escape_markdown(" ".join(parent["problem"].problem.split())[:160])
            st.markdown(f"- parent {pid} ({escape_markdown(parent['where'])}): {text}")
    if not detail["parents"]:
        st.caption("No parents (a seed).")
    kids = ", ".join(markdown_code(c.problem.id) for c in detail["children"])
    st.markdown(f"Children: {kids}" if kids else "No children in this run.")
    diff = detail["diff_against_parent"]
    if diff is None:
        st.caption("No parent to compare with.")
        return
    st.caption(f"Diff against the first parent, {markdown_code(diff['parent'])}")
    for part in ("statement", "solution"):
        st.markdown(f"**{part.capitalize()}**")
        st.code(diff[part] or "(identical)", language="diff")


def draw_edit(store, run_id: str, pk: int, problem) -> None:
    """The edit form; Save re-verifies in the sandbox (with the run's limits) and stores."""
    if st.session_state.get("_review_edit_pk") != pk:  # fill the form from the problem shown
        st.session_state["_review_edit_pk"] = pk
        st.session_state["review_edit_statement"] = problem.problem
        st.session_state["review_edit_solution"] = problem.solution or ""
        st.session_state["review_edit_tests"] = problem.tests or ""
    with st.form(key="review_edit_form"):
        statement = st.text_area("Statement", key="review_edit_statement", height=180)
        solution = st.text_area("Solution", key="review_edit_solution", height=240)
        tests = st.text_area("Tests", key="review_edit_tests", height=240)
        note = st.text_input("Note (optional)", key="review_edit_note")
        save = st.form_submit_button(
            "Save and re-verify", key="review_edit_save", icon=":material/save:"
        )
    if not save:
        return
    try:
        with sandbox_for_run(store, run_id) as sandbox, st.spinner("Re-verifying in the sandbox…"):
            res = edit_problem(
                store,
                pk,
                problem=statement,
                solution=solution,
                tests=tests,
                sandbox=sandbox,
                note=note,
            )
    except InfoSynthError as exc:
        show_error(exc)
        return
    n_ok = sum(v == "passed" for v in res.result.tests.values())
    message = (
        f"Saved {markdown_code(res.problem.id)} "
        f"({', '.join(k for k in res.changes if k != 'status')} changed) and re-verified: "
        f"**{escape_markdown(res.result.status)}**, {n_ok}/{len(res.result.tests)} "
        "tests passed."
    )
    flash("detail", "success" if res.passed else "warning", message)


def draw_strength(detail: dict) -> None:
    """Test strength (mutation score), surviving mutants, and degeneracy findings."""
    ms = detail["mutation_score"]
    st.markdown(f"Test strength: {escape_markdown(describe_strength(ms))}")
    if ms is not None and ms["survivors"]:
        with st.expander(f"Surviving mutants ({len(ms['survivors'])}): changes no test rejects"):
            st.code("\n".join(ms["survivors"]), language="text")
    for note in ms["notes"] if ms is not None else []:
        st.caption(f"Mutation note: {escape_markdown(note)}")
    for f in detail["degenerate"]:
        st.warning(
            f"Degenerate ({escape_markdown(f['kind'])}): {escape_markdown(f['detail'])}. "
            "Kept out of the benchmark.",
            icon=":material/warning:",
        )


def draw_detail(store, run_id: str, pk: int) -> None:
    try:
        detail = problem_detail(store, pk, run_id=run_id)
    except InfoSynthError as exc:
        show_error(exc)
        return
    p = detail["problem"]
    last = detail["attempts"][-1] if detail["attempts"] else None
    facts = [
        f":{BADGE[p.review]}-badge[{p.review}]",
        f"status **{escape_markdown(p.status)}**",
        p.difficulty or "difficulty unknown",
        escape_markdown(", ".join(p.topics)) or "no topics",
        f"{len(detail['attempts'])} round(s)",
    ]
    if last is not None:
        cov = last.details.get("coverage")
        facts += [
            f"{last.details.get('n_asserts', 0)} asserts",
            f"coverage {'–' if cov is None else f'{cov:.0%}'}",
        ]
    st.markdown(f"#### {markdown_code(p.id)}\n" + " · ".join(facts))
    draw_strength(detail)
    note = st.text_input("Review note (optional)", key="review_one_note")
    cols = st.columns(3)
    for col, decision in zip(cols, REVIEW_DECISIONS, strict=True):
        if col.button(
            VERBS[decision],
            key=f"review_one_{decision}",
            icon=ICONS[decision],
            disabled=p.review == decision,
            width="stretch",
        ):
            decide(store, [pk], decision, "detail", note)
    show_flash("detail")
    tabs = st.tabs(
        ["Statement", "Solution", "Tests", "Attempts", "Lineage and diff", "History", "Edit"]
    )
    with tabs[0]:
        st.code(p.problem, language="text", wrap_lines=True)
    with tabs[1]:
        st.code(p.solution or "(no reference solution)", language="python")
    with tabs[2]:
        st.code(p.tests or "(no tests)", language="python")
    with tabs[3]:
        draw_attempts(detail)
    with tabs[4]:
        draw_lineage(detail)
    with tabs[5]:
        if detail["reviews"]:
            st.dataframe(
                pd.DataFrame(detail["reviews"]).assign(
                    changes=lambda d: d["changes"].map(lambda c: ", ".join(c) if c else "")
                ),
                hide_index=True,
                width="stretch",
                key=f"review_history_{pk}",
            )
        else:
            st.caption("No decisions or edits yet.")
    with tabs[6]:
        draw_edit(store, run_id, pk, p)


NEW_EXPORT = ""  # the export picker's first option: a new export with a typed name


def export_destination(store, run_id: str, fmt: str):
    """Folder, name or existing export: returns (path, overwrite), or None when the choice
    is not complete or is refused (the reason is shown)."""
    base = store.path.parent
    where = st.radio(
        "Save in",
        ["exports", "other"],
        key="review_export_where",
        horizontal=True,
        format_func={
            "exports": f"the exports folder {markdown_code(export_dir(store))}",
            "other": "Other folder…",
        }.get,
    )
    folder = None
    if where == "other":
        folder = st.text_input(
            "Other folder…",
            key="review_export_folder",
            placeholder="absolute, or relative to the store's folder",
            help=f"Relative to {markdown_code(base)}. The same guards apply: the store, a folder holding it and "
            "anything that is not a previous InfoSynth export are never replaced.",
        )
        if not folder.strip():
            st.caption("Type a folder to export to.")
            return None
    try:
        folder_path = export_folder(store, folder)
    except InfoSynthError as exc:
        show_error(exc)
        return None
    existing = {str(e.path): e for e in find_exports(folder_path) if e.format == fmt}
    options = [NEW_EXPORT, *existing]
    if st.session_state.get("review_export_target") not in options:
        st.session_state["review_export_target"] = NEW_EXPORT

    def label(key: str) -> str:
        if key == NEW_EXPORT:
            return "New export (type a name)"
        e = existing[key]
        n = "?" if e.n_problems is None else e.n_problems
        return f"Replace {e.path.name} · {n} problem(s) · {e.created_at}"

    choice = st.selectbox(
        f"Export ({len(existing)} previous {fmt} export(s) in this folder)",
        options,
        key="review_export_target",
        format_func=label,
    )
    if choice != NEW_EXPORT:
        st.warning(
            f"Replaces the previous export {markdown_code(existing[choice].path)}; nothing else in "
            "the folder is touched.",
            icon=":material/warning:",
        )
        return existing[choice].path, True
    default = default_export_name(run_id, fmt)
    if st.session_state.get("_review_export_default") != default:  # run or format changed
        st.session_state["_review_export_default"] = default
        st.session_state["review_export_name"] = default
    name = st.text_input(
        "Name",
        key="review_export_name",
        help="Letters, digits, '.', '_' and '-'; the format adds .jsonl / .parquet "
        "(hf: a folder of that name).",
    )
    try:
        out = export_target(store, name.strip(), fmt, folder=folder)
    except InfoSynthError as exc:
        show_error(exc)
        return None
    st.caption(f"Writes {markdown_code(out)}")
    return out, False


def draw_export(store, run_id: str, summary: dict) -> None:
    st.subheader("Export accepted problems")
    n = summary["review"]["accepted"]
    if not n:
        st.info(
            "**Nothing accepted yet.** Accept some problems above first (select rows or lasso "
            "points, then *Accept*); then export them here.",
            icon=":material/info:",
        )
        return
    if summary["accepted_not_passed"]:
        st.warning(
            f"{summary['accepted_not_passed']} accepted problem(s) did not pass verification; "
            "they are exported as they are (see their `status`)."
        )
    c1, c2 = st.columns(2)
    fmt = c1.selectbox("Format", EXPORT_FORMATS, key="review_export_format")
    percent = c2.slider(
        "Only tests that reject at least … of mutants",
        0,
        100,
        0,
        5,
        format="%d%%",
        key="review_export_min_strength",
        help="Test strength (mutation score): the share of small changes to the reference "
        "solution that the tests catch. 0% exports every accepted problem; any higher value "
        "leaves out problems whose tests are weaker, and unscored ones.",
    )
    minimum = percent / 100 if percent else None
    if minimum is not None:
        n = accepted_count(store, run_id, min_mutation_score=minimum)
        left = summary["review"]["accepted"] - n
        st.caption(
            f"{n} of {summary['review']['accepted']} accepted problem(s) have tests that reject "
            f"at least {percent}% of mutants; {left} left out."
        )
    dest = export_destination(store, run_id, fmt)
    c1, c2 = st.columns(2)
    verb = "Export" if dest is None or not dest[1] else "Replace with"
    if c1.button(
        f"{verb} {n} accepted",
        key="review_export",
        icon=":material/ios_share:",
        disabled=dest is None or n == 0,
    ):
        out, overwrite = dest
        try:
            res = export_accepted(
                store, run_id, fmt, out, overwrite=overwrite, min_mutation_score=minimum
            )
        except InfoSynthError as exc:
            show_error(exc)
        else:
            replaced = ", replacing the previous export" if res.replaced else ""
            st.success(
                f"Exported {res.manifest['n_problems']} problem(s) to {markdown_code(res.data_path)}"
                f"{replaced} (manifest {markdown_code(res.manifest_path)})."
            )
            st.caption("Manifest")
            st.json(res.manifest, expanded=1)
    c2.download_button(
        "Download accepted as JSONL",
        data=accepted_jsonl(store, run_id, min_mutation_score=minimum),
        file_name=f"{run_id}-accepted.jsonl",
        mime="application/x-ndjson",
        key="review_download",
        icon=":material/download:",
    )


def draw_problems(store, run_id: str, frame: pd.DataFrame, n_total: int) -> None:
    """The table and the map (both select), the bulk buttons and one problem in detail."""
    st.caption(f"{len(frame)} of {n_total} problems match. Select rows to act on them.")
    # The selection holds row positions: a new row set (another run, other filters) gets a new
    # key, so a selection never moves onto other problems; a bulk decision also starts a new
    # selection (ticking two more rows after "Accept 5" must not reject all 7).
    rows_key = zlib.crc32(",".join(map(str, frame["pk"])).encode())
    table = st.dataframe(
        frame,
        key=f"review_table_{rows_key:08x}_{st.session_state.get(SELECTION_EPOCH, 0)}",
        on_select="rerun",
        selection_mode="multi-row",
        hide_index=True,
        width="stretch",
        column_order=TABLE_ORDER,
        column_config={
            "statement": st.column_config.TextColumn("statement", width="large"),
            "coverage": st.column_config.ProgressColumn(
                "coverage", min_value=0.0, max_value=1.0, format="percent"
            ),
            "test_strength": st.column_config.ProgressColumn(
                "test strength",
                min_value=0.0,
                max_value=1.0,
                format="percent",
                help="Share of small mutants of the reference solution that the tests reject "
                "(mutation score). Empty: not scored (older runs, problems outside the "
                "benchmark).",
            ),
        },
    )
    rows = [r for r in table.selection.rows if r < len(frame)]
    table_pks = [int(frame["pk"].iloc[r]) for r in rows]
    map_pks: list[int] = []
    if st.toggle("Map (lasso or box to select)", key="review_show_map", value=True):
        map_pks = draw_map(store, run_id, frame)
    selected = list(dict.fromkeys(table_pks + map_pks))

    st.markdown(
        f"**{len(selected)} selected** ({len(table_pks)} in the table, {len(map_pks)} on the map)"
    )
    st.checkbox(
        "Accept problems that did not pass",
        key="review_override",
        help="Accepting a problem whose verification did not pass (failed, unparsable, no "
        "tests) is refused unless this is ticked; such acceptances are marked "
        "`accepted_override` in the problem's metadata and in every export.",
    )
    cols = st.columns(3)
    for col, decision in zip(cols, REVIEW_DECISIONS, strict=True):
        if col.button(
            BULK[decision],
            key=f"review_bulk_{decision}",
            icon=ICONS[decision],
            disabled=not selected,
            width="stretch",
        ):
            decide(store, selected, decision, "bulk")
    show_flash("bulk")

    st.subheader("Problem detail")
    options = frame["pk"].tolist()
    if selected and st.session_state.get("_review_last_selection") != selected:
        st.session_state["review_problem"] = selected[0]  # follow a new selection
    st.session_state["_review_last_selection"] = selected
    if st.session_state.get("review_problem") not in options:
        st.session_state["review_problem"] = options[0]
    labels = dict(
        zip(
            frame["pk"],
            frame["id"] + " · " + frame["review"] + " · " + frame["status"],
            strict=True,
        )
    )
    pk = st.selectbox("Show problem", options, key="review_problem", format_func=labels.get)
    draw_detail(store, run_id, int(pk))


# ---------------------------------------------------------------------------- the page
store, runs = runs_or_stop(
    "**No runs to review yet.** Start a synthesis run on the **Synthesize** page; its "
    "problems can be reviewed here as soon as they are stored.",
)

ids = [r.id for r in runs]
wanted = st.query_params.get("run")
if wanted and "review_run" not in st.session_state:
    if wanted in ids:
        st.session_state["review_run"] = wanted
    else:
        st.warning(
            f"Run '{escape_markdown(wanted)}' (from the address) is not in this store; "
            "pick one below."
        )
names = {r.id: f"{r.id} · {r.name or 'unnamed'} · {r.status}" for r in runs}
run_id = st.selectbox("Run", ids, key="review_run", format_func=names.get)
st.query_params["run"] = run_id

try:
    summary = review_summary(store, run_id)
except InfoSynthError as exc:
    show_error(exc)
    st.stop()
cols = st.columns(5)
cols[0].metric("Problems", summary["problems"])
cols[1].metric("Passed", summary["passed"])
for col, state in zip(cols[2:], REVIEWS, strict=True):
    col.metric(state.capitalize(), summary["review"][state])
if not summary["problems"]:
    st.info("This run has no problems yet; they appear here as the run stores them.")
    st.stop()

c = st.columns([3, 2, 2, 2, 2, 2])
search = c[0].text_input("Search", key="review_search", placeholder="statement, id or topic")
status = c[1].multiselect("Status", STATUSES, key="review_status", placeholder="any")
state = c[2].multiselect("Review", REVIEWS, key="review_state", placeholder="any")
operator = c[3].multiselect(
    "Operator", summary["operators"], key="review_operator", placeholder="any"
)
generation = c[4].multiselect(
    "Generation", summary["generations"], key="review_generation", placeholder="any"
)
min_strength = c[5].number_input(
    "Tests reject ≥ % of mutants",
    min_value=0,
    max_value=100,
    value=None,
    step=5,
    key="review_min_strength",
    placeholder="off",
    help="Keep only problems whose tests reject at least this share of the mutants of their "
    "reference solution (mutation score). Unscored problems are hidden while it is set.",
)
try:
    frame = review_frame(
        store,
        run_id,
        search=search,
        status=status or None,
        review=state or None,
        operator=operator or None,
        generation=generation or None,
        min_mutation_score=None if min_strength is None else min_strength / 100,
    )
except InfoSynthError as exc:
    show_error(exc)
    st.stop()
if frame.empty:
    st.info("No problem matches these filters; clear the search or widen the filters.")
else:
    draw_problems(store, run_id, frame, summary["problems"])
st.divider()
draw_export(store, run_id, summary)
