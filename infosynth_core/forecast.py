"""Forecast of what reaching N verified problems will take: tokens, US dollars and seconds,
with an interval, from a run's own rates (none of Evol-Instruct, distilabel or the paper's
code says this before the money is spent).

The runner appends one entry per finished operator step to its checkpoint's ``step_log``
(:func:`log_step`): the time, the verified count, the tokens and dollars billed so far, and
the runner session. Consecutive entries of the same session give per-step samples (verified
gained, tokens, dollars, wall seconds between step ends — which already reflects the run's
concurrency); the gap across a restart is not a sample.

From ``m`` samples the forecast for ``R = N − verified`` more problems is ``S = R / v̄``
steps, ``S · t̄`` tokens, ``S · c̄`` dollars and ``S · s̄`` seconds, where the bars are sample
means. The interval is a percentile bootstrap (Efron & Tibshirani 1993, ch. 13): the
samples are resampled with replacement ``draws`` times and the 10th and 90th percentiles of
each quantity are reported (an 80% interval). A pilot of at least :data:`MIN_STEPS` steps is
needed; before that, :func:`forecast_for_config` uses an earlier run with the same endpoint
(base URL and model), when there is one.

Everything is an estimate under the assumption that the next steps behave like the sampled
ones; a run's later generations are often harder to keep novel, so the interval is widened
by nothing else than the sampling spread — read it as "at the current rates".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Forecast",
    "log_step",
    "forecast_from_log",
    "forecast_run",
    "forecast_for_config",
    "format_forecast",
    "MIN_STEPS",
]

MIN_STEPS = 3  # step samples before a run forecasts from its own rates
LOG_KEEP = 400  # step-log entries kept in the checkpoint (the most recent ones)


@dataclass(frozen=True)
class Forecast:
    """What reaching ``target`` verified problems will take, at the sampled rates.

    ``steps``, ``tokens``, ``cost_usd`` (US dollars) and ``seconds`` are ``(median, low,
    high)`` of the bootstrap (80% interval); None when not reachable at the current rates
    (no verified problem in the samples). ``within_generations`` is False when the run's
    remaining steps end first; ``expected_at_end`` is then the verified count forecast at its
    last step. ``budget_hit_at`` is the verified count forecast when the token or dollar cap
    is reached, when that comes before ``target`` (None otherwise). ``source`` names the run
    whose rates were used; ``samples`` is how many step samples.
    """

    target: int
    verified: int
    samples: int
    source: str
    steps: tuple[float, float, float] | None
    tokens: tuple[float, float, float] | None
    cost_usd: tuple[float, float, float] | None
    seconds: tuple[float, float, float] | None
    steps_left: int | None = None
    within_generations: bool = True
    expected_at_end: float | None = None
    budget_hit_at: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def log_step(
    state: dict[str, Any], *, verified: int, usage: dict[str, Any], session: int, now: float
) -> None:
    """Append a step's end to ``state["step_log"]`` (kept to the last :data:`LOG_KEEP`):
    ``[unix seconds, verified, tokens billed, dollars billed, session]``."""
    tokens = int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))
    log = state.setdefault("step_log", [])
    log.append([round(now, 3), int(verified), tokens, float(usage.get("cost_usd", 0.0)), session])
    del log[:-LOG_KEEP]


def _samples(log: Sequence[Sequence[float]]) -> np.ndarray:
    """Per-step samples ``[verified gained, tokens, dollars, seconds]`` from a step log."""
    rows = []
    for a, b in zip(log, log[1:], strict=False):
        if a[4] != b[4] or b[0] < a[0]:
            continue  # a restart in between: the gap is downtime, not a step
        rows.append([b[1] - a[1], b[2] - a[2], b[3] - a[3], b[0] - a[0]])
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def forecast_from_log(
    log: Sequence[Sequence[float]],
    *,
    target: int,
    verified: int,
    steps_left: int | None = None,
    spent_tokens: int = 0,
    spent_usd: float = 0.0,
    budget_tokens: int | None = None,
    budget_usd: float | None = None,
    source: str = "this run",
    draws: int = 400,
    random_state: int = 0,
) -> Forecast | None:
    """The forecast from a step log (see the module docstring); None with fewer than
    :data:`MIN_STEPS` samples. ``steps_left`` caps the run (its remaining generations);
    ``spent_*`` and ``budget_*`` give the cap warning."""
    x = _samples(log)
    if len(x) < MIN_STEPS:
        return None
    remaining = max(0, target - verified)
    rng = np.random.default_rng(random_state)
    idx = rng.integers(0, len(x), size=(draws, len(x)))
    means = x[idx].mean(axis=1)  # draws x 4
    means = np.vstack([x.mean(axis=0), means])  # row 0: the point estimate
    v = means[:, 0]
    notes: list[str] = []
    if remaining == 0:
        zero = (0.0, 0.0, 0.0)
        return Forecast(target, verified, len(x), source, zero, zero, zero, zero, steps_left)
    if v[0] <= 0:
        notes.append(
            f"no problem was verified in the last {len(x)} steps: N is not reachable at the "
            "current rates"
        )
        return Forecast(
            target, verified, len(x), source, None, None, None, None, steps_left, notes=notes
        )
    with np.errstate(divide="ignore"):
        steps = np.where(v > 0, remaining / np.maximum(v, 1e-12), np.inf)

    def band(values: np.ndarray) -> tuple[float, float, float]:
        # a draw with no verified step needs infinitely many: no interpolation across inf
        draws_ = values[1:]
        return (
            float(values[0]),
            float(np.percentile(draws_, 10, method="lower")),
            float(np.percentile(draws_, 90, method="higher")),
        )

    def times(rate: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):  # inf steps x 0 per step: nothing, not nan
            return np.where(rate == 0, 0.0, steps * rate)

    out = {
        "steps": band(steps),
        "tokens": band(times(means[:, 1])),
        "cost_usd": band(times(means[:, 2])),
        "seconds": band(times(means[:, 3])),
    }
    within = steps_left is None or out["steps"][0] <= steps_left
    at_end = None
    if not within:
        at_end = verified + steps_left * float(v[0])
        notes.append(
            f"the run's remaining {steps_left} steps end first: about {at_end:.0f} of {target} "
            "verified at its end; add generations to reach N"
        )
    hit_at = None
    per_step_tokens, per_step_usd = float(means[0, 1]), float(means[0, 2])
    caps = []
    if budget_tokens is not None and per_step_tokens > 0:
        caps.append(((budget_tokens - spent_tokens) / per_step_tokens, "llm.budget_tokens"))
    if budget_usd is not None and per_step_usd > 0:
        caps.append(((budget_usd - spent_usd) / per_step_usd, "llm.budget_usd"))
    if caps:
        cap_steps, which = min(caps)
        reach = out["steps"][0] if within else float(steps_left)
        if cap_steps < reach:
            hit_at = verified + max(0.0, cap_steps) * float(v[0])
            notes.append(
                f"the budget ({which}) will be spent at about {hit_at:.0f} of {target} "
                "verified: raise it to reach N"
            )
    return Forecast(
        target,
        verified,
        len(x),
        source,
        steps_left=steps_left,
        within_generations=within,
        expected_at_end=at_end,
        budget_hit_at=hit_at,
        notes=notes,
        **out,
    )


def _steps_total(config: dict[str, Any]) -> int:
    return (
        int(config.get("generations", 0))
        * int(config.get("colonies", 0))
        * int(config.get("steps_per_generation", 0))
    )


def forecast_run(store: Any, run_id: str, *, random_state: int = 0) -> Forecast | None:
    """The forecast of a stored run from its own step log (None before the pilot)."""
    from .runner import spend_of

    run = store.get_run(run_id)
    state, config = run.state or {}, run.config or {}
    done = (state.get("progress") or {}).get("steps_done", 0)
    spend = spend_of(store, run_id)
    llm = config.get("llm") or {}
    return forecast_from_log(
        state.get("step_log") or [],
        target=int(config.get("n_problems", 0)),
        verified=int(state.get("verified", 0)),
        steps_left=max(0, _steps_total(config) - int(done)),
        spent_tokens=int(spend["prompt_tokens"]) + int(spend["completion_tokens"]),
        spent_usd=float(spend["cost_usd"]),
        budget_tokens=llm.get("budget_tokens"),
        budget_usd=llm.get("budget_usd"),
        random_state=random_state,
    )


def forecast_for_config(
    store: Any, config: dict[str, Any], *, random_state: int = 0
) -> Forecast | None:
    """Before a run starts: the forecast for ``config`` from the most recent stored run with
    the same engine endpoint (LLM base URL and model, or the offline engine) that has a
    pilot's worth of steps; None when there is none."""
    llm = config.get("llm") or {}
    endpoint = (config.get("engine"), llm.get("base_url"), llm.get("model"))
    for run in sorted(store.list_runs(), key=lambda r: r.created_at, reverse=True):
        other = run.config or {}
        o_llm = other.get("llm") or {}
        if (other.get("engine"), o_llm.get("base_url"), o_llm.get("model")) != endpoint:
            continue
        log = (run.state or {}).get("step_log") or []
        if len(_samples(log)) < MIN_STEPS:
            continue
        return forecast_from_log(
            log,
            target=int(config.get("n_problems", 0)),
            verified=0,
            steps_left=_steps_total(config),
            budget_tokens=llm.get("budget_tokens"),
            budget_usd=llm.get("budget_usd"),
            source=f"run {run.id} (same endpoint)",
            random_state=random_state,
        )
    return None


def _fmt_seconds(s: float) -> str:
    from .monitor import format_eta

    return format_eta(s) if math.isfinite(s) else "∞"


def format_forecast(f: Forecast | None) -> str:
    """One line for the CLI and the dashboard, e.g. ``to 200 verified: 1.2M tokens (0.9M–1.6M)
    · $0.84 ($0.62–$1.10) · 12m00s (9m–15m) at the rates of 24 steps of this run``."""
    if f is None:
        return f"after the first {MIN_STEPS + 1} steps"
    if f.tokens is None or f.seconds is None or f.cost_usd is None:
        return "; ".join(f.notes) or "no forecast"
    if f.verified >= f.target:
        return f"{f.target} verified reached"

    def tok(x: float) -> str:
        if not math.isfinite(x):
            return "∞"  # some resampled pilots verified nothing: no upper bound
        return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.1f}k" if x >= 1e3 else f"{x:.0f}"

    def usd(x: float) -> str:
        return f"${x:.2f}" if math.isfinite(x) else "∞"

    t, c, s = f.tokens, f.cost_usd, f.seconds
    paid = f"{tok(t[0])} tokens ({tok(t[1])}–{tok(t[2])}) · " if t[2] > 0 else ""  # offline: none
    if c[2] > 0:
        paid += f"{usd(c[0])} ({usd(c[1])}–{usd(c[2])}) · "
    line = (
        f"to {f.target} verified: {paid}{_fmt_seconds(s[0])} "
        f"({_fmt_seconds(s[1])}–{_fmt_seconds(s[2])}) at the rates of {f.samples} steps of "
        f"{f.source}"
    )
    return "; ".join([line, *f.notes])
