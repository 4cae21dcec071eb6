"""Synthesize: configure and start a run, then watch it live (the runner is its own process;
this page only reads the store, so closing the browser does not stop the run)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from infosynth_core import InfoSynthError
from infosynth_core import runner as run_ctl
from infosynth_core.config import RunConfig
from infosynth_core.forecast import forecast_for_config, forecast_run, format_forecast
from infosynth_core.monitor import (
    config_from_form,
    continue_run,
    format_eta,
    generation_rows,
    recent_events,
    resume_run,
    run_progress,
    start_run,
)
from infosynth_core.textsafe import escape_markdown
from pages.common import get_settings, get_store, show_error, use_app_navigation

use_app_navigation()
_DEFAULTS = RunConfig()  # the form starts at the library's defaults
_FORECAST_HELP = (
    "Tokens, cost and time to reach N verified problems at the rates of the run's own "
    "steps so far (verified per step, tokens and seconds per step), with an 80% bootstrap "
    "interval; before a run starts, from an earlier run with the same endpoint."
)

st.title("Synthesize")
st.caption(
    "Evolve a seed set into new, verified problems. The run continues in the background "
    "when you close the browser; come back to this page to watch it."
)

try:
    store = get_store()
    seed_sets = [s.name for s in store.list_seed_sets()]
except InfoSynthError as exc:
    show_error(exc)
    st.stop()


# ----------------------------------------------------------------------------- new run
with st.expander("New run", expanded=not store.list_runs()):
    engine = st.radio(
        "Engine",
        ["offline", "llm"],
        format_func=lambda e: {
            "offline": "Offline (program composition, no model needed)",
            "llm": "OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp, LiteLLM)",
        }[e],
        key="syn_engine",
        horizontal=True,
    )
    form: dict = {"engine": engine}
    api_key = None
    if engine == "llm":
        c1, c2 = st.columns(2)
        form["llm.base_url"] = c1.text_input(
            "Base URL", "http://127.0.0.1:8000/v1", key="syn_base_url"
        )
        form["llm.model"] = c2.text_input(
            "Model", "", key="syn_model", placeholder="e.g. gpt-4o-mini"
        )
        c1, c2, c3 = st.columns(3)
        form["llm.api_key_env"] = c1.text_input(
            "API key variable",
            "OPENAI_API_KEY",
            key="syn_key_env",
            help="The runner reads the key from this environment variable.",
        )
        api_key = (
            c2.text_input(
                "…or type the key",
                "",
                type="password",
                key="syn_api_key",
                help="Handed to the runner process only; never stored, shown again or exported.",
            )
            or None
        )
        form["llm.concurrency"] = c3.number_input("Concurrent requests", 1, 1024, 8, key="syn_conc")
        c1, c2, c3 = st.columns(3)
        form["llm.budget_tokens"] = (
            c1.number_input(
                "Token budget (0 = none)", 0, 10**10, 0, step=100_000, key="syn_budget_tokens"
            )
            or None
        )
        budget_usd = c2.number_input(
            "Cost cap, USD (0 = none)", 0.0, 1e6, 0.0, key="syn_budget_usd"
        )
        if budget_usd:
            p1, p2 = c3.columns(2)
            form["llm.budget_usd"] = budget_usd
            form["llm.prices.prompt_usd_per_mtok"] = p1.number_input(
                "USD / M prompt tokens", 0.0, 1e4, 0.15, key="syn_price_in"
            )
            form["llm.prices.completion_usd_per_mtok"] = p2.number_input(
                "USD / M completion tokens", 0.0, 1e4, 0.6, key="syn_price_out"
            )
        form["rephrase"] = st.checkbox(
            "Rephrase verified problems to state their edge cases", False, key="syn_rephrase"
        )
    c1, c2, c3 = st.columns(3)
    form["name"] = c1.text_input("Run name", "", key="syn_name")
    form["seed_set"] = c2.selectbox(
        "Seed set",
        seed_sets,
        index=seed_sets.index("bundled") if "bundled" in seed_sets else 0,
        key="syn_seed_set",
    )
    form["random_state"] = c3.number_input("Random state", 0, 2**31 - 1, 0, key="syn_random_state")
    c1, c2, c3, c4 = st.columns(4)
    form["generations"] = c1.number_input(
        "Generations", 1, 1000, _DEFAULTS.generations, key="syn_generations"
    )
    form["n_problems"] = c2.number_input("…or stop at N verified", 1, 10**6, 1000, key="syn_n")
    form["colonies"] = c3.number_input(
        "Colonies (N_c)", 1, 1000, _DEFAULTS.colonies, key="syn_colonies"
    )
    form["seeds_per_colony"] = c4.number_input("Seeds per colony (B_s)", 1, 10**5, 10, key="syn_bs")
    c1, c2, c3, c4 = st.columns(4)
    form["mutation_ratio"] = c1.slider(
        "Mutation ratio r",
        0.0,
        1.0,
        0.5,
        0.05,
        key="syn_ratio",
        help="Probability that a step is a mutation; otherwise it is a crossover.",
    )
    form["steps_per_generation"] = c2.number_input(
        "Steps per colony and generation", 1, 10**4, _DEFAULTS.steps_per_generation, key="syn_steps"
    )
    form["crossover_batch"] = c3.number_input("Crossover batch (B_c)", 2, 50, 3, key="syn_bc")
    form["crossover_count"] = c4.number_input("Crossovers per step (C)", 1, 50, 3, key="syn_c")
    c1, c2, c3, c4 = st.columns(4)
    form["k_farthest"] = c1.toggle("k-farthest filtering", True, key="syn_kf")
    form["keep"] = c2.number_input(
        "Keep per step", 1, 50, 2, key="syn_keep", disabled=not form["k_farthest"]
    )
    form["similarity"] = c3.selectbox(
        "Similarity", ["nearest", "mean"], key="syn_sim", disabled=not form["k_farthest"]
    )
    form["feedback_rounds"] = c4.number_input(
        "Feedback rounds (N_it)",
        0,
        20,
        3,
        key="syn_nit",
        help="Rounds of feedback after the first solve (the paper's N_it): with 3, a problem "
        "gets up to 4 attempts; with 0, one attempt and no feedback.",
    )
    c1, c2, c3 = st.columns(3)
    form["sandbox.timeout_s"] = c1.number_input(
        "Sandbox timeout (s)",
        1.0,
        600.0,
        10.0,
        key="syn_timeout",
        help="CPU seconds each verification run may use (a busy machine does not count "
        "against it); code that sleeps or blocks ends at 3 x this + 5 s of wall clock.",
    )
    form["metrics.runs"] = c2.number_input(
        "UMAP fits per generation",
        1,
        100,
        _DEFAULTS.metrics.runs,
        key="syn_umap_runs",
        help="Each value and its interval come from this many joint UMAP fits (× "
        f"{_DEFAULTS.metrics.draws} subsample draws each); one fit gives no interval.",
    )
    form["metrics.enabled"] = c3.toggle(
        "Novelty and diversity per generation", True, key="syn_metrics"
    )
    try:
        before = forecast_for_config(store, config_from_form(form).to_dict())
    except InfoSynthError:
        before = None  # the form is not valid yet; Start says why
    if before is not None:
        st.caption(f"Forecast: {format_forecast(before)}.", help=_FORECAST_HELP)
        if before.budget_hit_at is not None or not before.within_generations:
            st.warning("At those rates: " + "; ".join(before.notes) + ".")
    if st.button("Start run", type="primary", key="syn_start", icon=":material/play_arrow:"):
        try:
            config = config_from_form(form)
            run = start_run(store, config, db_path=get_settings().db_path, api_key=api_key)
            st.session_state["syn_run"] = run.id
            st.session_state["syn_watch"] = run.id  # the picker below shows the new run
            st.query_params["run"] = run.id
            st.success(f"Started run **{escape_markdown(run.id)}**; it appears below.")
        except InfoSynthError as exc:
            show_error(exc)

# ----------------------------------------------------------------------------- watch a run
runs = list(reversed(store.list_runs()))
if not runs:
    st.info(
        "**No runs yet.** Choose the settings above (the defaults run the offline engine on "
        "the bundled seeds in about a minute) and press **Start run**.",
        icon=":material/info:",
    )
    st.stop()

ids = [r.id for r in runs]
wanted = st.session_state.get("syn_run") or st.query_params.get("run")
if st.session_state.get("syn_watch") not in ids:  # first visit, or its run was deleted
    st.session_state["syn_watch"] = wanted if wanted in ids else ids[0]
run_id = st.selectbox(
    "Run",
    ids,
    format_func=lambda i: next(f"{r.id} · {r.name}" if r.name else r.id for r in runs if r.id == i),
    key="syn_watch",
)


def extend_form(run_id: str, status: str, p: dict) -> None:
    """Raise a stopped run's budget, add generations or raise N, and continue it."""
    config = store.get_run(run_id).config
    llm = config.get("llm") or {}
    budget_stop = "budget" in (p["error"] or "")
    with st.expander("Continue this run further", expanded=budget_stop):
        st.caption(
            "Raise the budget, add generations or raise N, then continue: problems the stop "
            "left unverified are verified first. The change is recorded in the run's events "
            "and in its exports' manifests."
        )
        c1, c2, c3, c4 = st.columns(4)
        changes: dict = {
            "generations": c1.number_input(
                "Generations", 1, 10_000, int(config.get("generations", 1)), key="syn_ext_gens"
            ),
            "n_problems": c2.number_input(
                "Stop at N verified", 1, 10**6, int(config.get("n_problems", 1)), key="syn_ext_n"
            ),
        }
        if config.get("engine") == "llm":
            changes["llm.budget_tokens"] = (
                c3.number_input(
                    "Token budget (0 = none)",
                    0,
                    10**10,
                    int(llm.get("budget_tokens") or 0),
                    step=100_000,
                    key="syn_ext_tokens",
                )
                or None
            )
            if llm.get("budget_usd") is not None:
                changes["llm.budget_usd"] = c4.number_input(
                    "Cost cap, USD", 0.01, 1e6, float(llm["budget_usd"]), key="syn_ext_usd"
                )
        if st.button("Apply and continue", key="syn_continue", icon=":material/fast_forward:"):
            try:
                diff = continue_run(store, run_id, changes, db_path=get_settings().db_path)
                done = ", ".join(f"{k} {a} → {b}" for k, (a, b) in diff.items()) or "no change"
                st.success(f"Continuing ({escape_markdown(done)}).")
                st.rerun()
            except InfoSynthError as exc:
                show_error(exc)


@st.fragment(run_every=2)
def live(run_id: str) -> None:
    try:
        p = run_progress(store, run_id)
    except InfoSynthError as exc:
        show_error(exc)
        return
    status = p["status"]
    icons = {  # Streamlit's bundled icon font: no emoji font needed on the viewer's machine
        "running": ":material/play_circle:",
        "paused": ":material/pause_circle:",
        "finished": ":material/check_circle:",
        "stopped": ":material/stop_circle:",
        "failed": ":material/error:",
        "interrupted": ":material/warning:",
        "created": ":material/schedule:",
    }
    st.subheader(f"{icons.get(status, '')} {status}")
    if status == "interrupted":
        st.warning(
            "The runner process is gone (crash, kill or reboot). **Resume** continues from the last checkpoint without losing verified problems."
        )
    if p["error"]:  # API and runner error texts: shown as text, never as markdown
        st.error(escape_markdown(p["error"]))
    st.progress(
        min(1.0, p["fraction"]),
        text=f"step {p['steps_done']} of {p['steps_total']} · generation {p['generation']} of {p['generations']} · ETA {format_eta(p['eta_s'])}",
    )
    if status not in ("finished", "failed"):
        ahead = forecast_run(store, run_id)
        st.caption(f"Forecast: {format_forecast(ahead)}.", help=_FORECAST_HELP)
        if ahead is not None and (ahead.budget_hit_at is not None or not ahead.within_generations):
            st.warning("At the current rates: " + "; ".join(ahead.notes) + ".")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Verified problems", p["verified"], help=f"stops at {p['n_problems']}")
    c2.metric("Tokens billed", f"{p['tokens']:,}")
    c3.metric("Cost (USD)", f"{p['cost_usd']:.4f}")
    c4.metric(
        "LLM calls (cached)",
        f"{p['calls']} ({p['cached_calls']})",
        delta=f"{p['api_errors']} lost to API errors" if p["api_errors"] else None,
        delta_color="inverse",
        help="Steps and verifications lost to endpoint failures after every retry are "
        "counted under the number; each has an entry in *Errors and warnings*.",
    )
    b1, b2, b3, _ = st.columns([1, 1, 1, 3])
    try:
        if status == "running" and b1.button("Pause", key="syn_pause", icon=":material/pause:"):
            run_ctl.request(store, run_id, "pause")
            st.rerun()
        if status in ("paused", "interrupted", "stopped", "failed") and b2.button(
            "Resume", key="syn_resume", icon=":material/play_arrow:"
        ):
            resume_run(store, run_id, db_path=get_settings().db_path)
            st.rerun()
        if status in ("running", "paused") and b3.button(
            "Stop", key="syn_stop", icon=":material/stop:"
        ):
            run_ctl.request(store, run_id, "stop")
            st.rerun()
    except InfoSynthError as exc:
        show_error(exc)
    if status in ("stopped", "interrupted", "finished", "failed"):
        extend_form(run_id, status, p)
    rows = generation_rows(store, run_id)
    st.markdown("**Per generation**")
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, key="syn_generations_table")
    else:
        st.caption("The first generation's counts appear here when it ends.")
    st.page_link(
        "pages/explore.py",
        label="Open the map and curves (Explore)",
        icon=":material/scatter_plot:",
    )
    events = recent_events(store, run_id)
    with st.expander(f"Errors and warnings ({len(events)})", expanded=False):
        if events:
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "time": e["created_at"],
                            "level": e["level"],
                            "kind": e["kind"],
                            "message": e["message"],
                        }
                        for e in events
                    ]
                ),
                hide_index=True,
                key="syn_events_table",
            )
        else:
            st.caption("None so far. API errors, sandbox warnings and budget stops appear here.")


live(run_id)
