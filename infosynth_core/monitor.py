"""Starting and watching runs from a user interface (the dashboard's Synthesize page).

The runner is its own process (:func:`runner.spawn`); these functions start it, ask it to
pause, resume or stop, and read its progress back from the store, which it updates after
every step. Nothing here blocks on the run.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import runner
from .config import RunConfig
from .errors import RunControlError
from .store import RunInfo, Store

__all__ = [
    "start_run",
    "resume_run",
    "run_progress",
    "generation_rows",
    "recent_events",
    "config_from_form",
    "format_eta",
    "start_evaluation",
    "evaluations",
]


def _keys(config: RunConfig, api_key: str | None) -> dict[str, str] | None:
    """A typed key, for the runner, under the variable the config names (handed over by
    pipe: never into an environment, the store, the config or an export)."""
    if not api_key or config.llm is None:
        return None
    return {config.llm.api_key_env: api_key}


def start_run(
    store: Store, config: RunConfig, *, db_path: str | Path, api_key: str | None = None
) -> RunInfo:
    """Create a run for ``config`` and start its runner process in the background."""
    run = runner.create_run(store, config)
    pid = runner.spawn(db_path, run.id, keys=_keys(config, api_key))
    store.add_event(run.id, "info", "runner", f"runner process {pid} started from the dashboard")
    return store.get_run(run.id)


def resume_run(
    store: Store, run_id: str, *, db_path: str | Path, api_key: str | None = None
) -> RunInfo:
    """Continue a run: clear a pause if its runner is alive, else start a new runner."""
    status = runner.run_status(store, run_id)["status"]
    if status == "finished":
        raise RunControlError(f"Run '{run_id}' has finished; there is nothing to resume.")
    if status in ("running", "paused"):
        return runner.request(store, run_id, "resume")
    config = runner.run_config_of(store.get_run(run_id))
    store.update_run(run_id, control=None)
    runner.spawn(db_path, run_id, keys=_keys(config, api_key))
    store.add_event(run_id, "info", "runner", "runner process restarted from the dashboard")
    return store.get_run(run_id)


def continue_run(
    store: Store,
    run_id: str,
    changes: dict[str, Any],
    *,
    db_path: str | Path,
    api_key: str | None = None,
) -> dict[str, list[Any]]:
    """Change what a stopped, interrupted or finished run may still do (``runner.extend``:
    budget, generations, N; recorded as a ``config`` event by "dashboard") and start its
    runner again. Returns the changes ``{key: [old, new]}``."""
    diff = runner.extend(store, run_id, changes, who="dashboard")
    resume_run(store, run_id, db_path=db_path, api_key=api_key)
    return diff


def format_eta(seconds: float | None) -> str:
    """``"4m07s"``, ``"1h05m"`` or ``"--"`` when unknown."""
    if seconds is None:
        return "--"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _age_s(timestamp: str) -> float:
    try:
        then = _dt.datetime.fromisoformat(timestamp)
    except (TypeError, ValueError):
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=_dt.UTC)
    return max(0.0, (_dt.datetime.now(_dt.UTC) - then).total_seconds())


def run_progress(store: Store, run_id: str) -> dict[str, Any]:
    """Where a run stands: status (``interrupted`` when its process died), steps done and
    total, fraction, ETA in seconds (from the runner's step rate, less the time since its
    last report), verified problems, tokens and cost billed, operator steps and verifications
    lost to API errors (run-wide), the last error."""
    info = runner.run_status(store, run_id)
    run = store.get_run(run_id)
    config = run.config or {}
    prog = info["progress"] or {}
    total = prog.get("steps_total") or (
        config.get("generations", 0)
        * config.get("colonies", 0)
        * config.get("steps_per_generation", 0)
    )
    done = prog.get("steps_done", 0)
    if info["status"] == "finished":
        done = total = max(done, total) or 1
    eta = prog.get("eta_s")
    if eta is not None and info["status"] == "running":
        eta = max(0.0, eta - _age_s(run.updated_at))
    elif info["status"] != "running":
        eta = None
    usage = info["usage"] or {}
    endpoint = (run.state or {}).get("endpoint") or {}
    return {
        "status": info["status"],
        # calls lost to endpoint failures after retries, run-wide (one api_error event each)
        "api_errors": int(endpoint.get("steps_lost", 0) + endpoint.get("verifications_lost", 0)),
        "steps_done": done,
        "steps_total": total,
        "fraction": (done / total) if total else 0.0,
        "eta_s": eta,
        "generation": min(info["generation"] or 1, config.get("generations", 1)),
        "generations": config.get("generations"),
        "verified": info["verified"],
        "n_problems": config.get("n_problems"),
        "tokens": int(usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)),
        "cost_usd": float(usage.get("cost_usd", 0.0)),
        "calls": int(usage.get("calls", 0)),
        "cached_calls": int(usage.get("cached_calls", 0)),
        "error": info["error"],
        "control": info["control"],
        "engine": config.get("engine"),
    }


def generation_rows(store: Store, run_id: str) -> list[dict[str, Any]]:
    """One row per finished generation: counts, tokens, seconds, novelty and diversity, and
    the test quality of the benchmark so far (mean tests, asserts and line coverage)."""
    rows = []
    for g in store.generation_metrics(run_id):
        totals = g.get("totals", {})
        metrics = g.get("metrics", {}) or {}
        novelty = (metrics.get("novelty") or {}).get("mean")
        diversity = ((metrics.get("diversity") or {}).get("candidate") or {}).get("mean")
        rows.append(
            {
                "generation": g["generation"],
                "proposed": int(totals.get("proposed", 0)),
                "kept": int(totals.get("kept", 0)),
                "passed": int(totals.get("passed", 0)),
                "failed": int(totals.get("failed", 0) + totals.get("error", 0)),
                "timeout": int(totals.get("timeout", 0)),
                "unparsable": int(
                    totals.get("unparsable", 0) + sum(g.get("unparsable_answers", {}).values())
                ),
                "degenerate": int(totals.get("degenerate", 0)),
                "duplicates": int(totals.get("duplicates", 0) + g.get("merge_duplicates", 0)),
                "api errors": int(sum(g.get("api_errors", {}).values())),
                "benchmark": g.get("verified_total"),
                "tokens": int(
                    g.get("usage", {}).get("prompt_tokens", 0)
                    + g.get("usage", {}).get("completion_tokens", 0)
                ),
                "novelty (nats)": novelty,
                "diversity (nats)": diversity,
                # the benchmark so far: mean tests, asserts and line coverage per problem
                "tests / problem": (g.get("test_quality") or {}).get("tests_mean"),
                "asserts / problem": (g.get("test_quality") or {}).get("asserts_mean"),
                "line coverage": (g.get("test_quality") or {}).get("coverage_mean"),
                "seconds": round(float(g.get("seconds", 0.0)), 1),
            }
        )
    return rows


def recent_events(
    store: Store,
    run_id: str,
    *,
    levels: tuple[str, ...] = ("warning", "error"),
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The newest run events of these levels (API errors, sandbox warnings, budget stops,
    runner failures), newest first."""
    events = [e for e in store.events(run_id) if e["level"] in levels]
    return list(reversed(events[-limit:]))


def config_from_form(values: Mapping[str, Any]) -> RunConfig:
    """A RunConfig from a flat form (``llm.model`` style keys for nested ones); errors name
    the key and the value."""
    from .config import load_run_config, nest_dotted

    return load_run_config(None, nest_dotted({k: v for k, v in values.items() if v != ""}))


# ============================================================================ evaluations
def start_evaluation(
    store: Store,
    run_id: str,
    *,
    db_path: str | Path,
    model: str,
    base_url: str | None = None,
    samples: int = 1,
    ks: tuple[int, ...] = (1,),
    api_key_env: str = "OPENAI_API_KEY",
    api_key: str | None = None,
    limit: int | None = None,
) -> int:
    """Start ``infosynth evaluate`` for a run as a background process; returns its pid.

    Its report is stored as a run event (kind ``evaluation``) when it ends; its output goes
    to ``<db folder>/runs/<run_id>.evaluate.log``. A typed ``api_key`` is handed to that
    process only, by pipe, as the variable ``api_key_env`` (see :func:`runner.launch`)."""
    import sys

    if not runner.benchmark_problems(store, run_id):
        raise RunControlError(
            f"Run '{run_id}' has no verified problems yet; evaluate it once it has some."
        )
    db_path = Path(db_path)
    log = runner.run_file(db_path, run_id, ".evaluate.log")
    cmd = [sys.executable, "-m", "infosynth_core", "evaluate", run_id, "--db", str(db_path)]
    cmd += ["--model", model, "--samples", str(samples), "--api-key-env", api_key_env]
    cmd += ["--k", ",".join(str(k) for k in ks), "--json"]
    if base_url:
        cmd += ["--base-url", base_url]
    if limit:
        cmd += ["--limit", str(limit)]
    pid = runner.launch(cmd, log, keys={api_key_env: api_key} if api_key else None)
    store.add_event(
        run_id,
        "info",
        "evaluation_started",
        f"evaluating {model} (pid {pid})",
        {"pid": pid, "model": model, "samples": samples, "log": str(log)},
    )
    return pid


def evaluations(store: Store, run_id: str) -> dict[str, Any]:
    """Finished evaluation reports of a run (newest first), and the one still running (its
    pid and model) or the log tail of one that died without a report."""
    events = store.events(run_id)
    reports = [e for e in events if e["kind"] == "evaluation"]
    started = [e for e in events if e["kind"] == "evaluation_started"]
    running = failed = None
    if started:
        last = started[-1]
        later = [e for e in reports if e["id"] > last["id"]]
        if not later:
            if runner.pid_alive(last["data"].get("pid")):
                running = last["data"]
            else:
                try:
                    text = Path(last["data"].get("log", "")).read_text(errors="replace")
                except OSError:
                    text = ""
                failed = {**last["data"], "log_tail": text[-3000:]}
    return {
        "reports": [{**e["data"], "created_at": e["created_at"]} for e in reversed(reports)],
        "running": running,
        "failed": failed,
    }
