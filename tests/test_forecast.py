"""Forecast of tokens, cost and time to N verified problems (``infosynth_core.forecast``):
closed forms at constant rates, restarts, unreachable N, the budget and generations warnings,
the pre-start forecast from an earlier run of the same endpoint, and a forecast made after a
pilot against what the rest of a real LLM run (scripted server) then took."""

from __future__ import annotations

import pytest
from openai_server import FakeOpenAIServer
from scripted_llm import ScriptedLLM

from infosynth_core import runner
from infosynth_core.config import load_run_config
from infosynth_core.forecast import (
    MIN_STEPS,
    forecast_for_config,
    forecast_from_log,
    format_forecast,
    log_step,
)
from infosynth_core.store import Store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _log(steps: int, *, verified=2, tokens=1000, usd=0.01, seconds=3.0, session=1, start=None):
    state: dict = {}
    v, t, c, now = start or (0, 0, 0.0, 0.0)
    for _ in range(steps + 1):
        usage = {"prompt_tokens": t, "completion_tokens": 0, "cost_usd": c}
        log_step(state, verified=v, usage=usage, session=session, now=now)
        v, t, c, now = v + verified, t + tokens, c + usd, now + seconds
    return state["step_log"]


def test_constant_rates_give_the_closed_form_with_a_zero_width_interval():
    f = forecast_from_log(_log(10), target=100, verified=20)
    # 80 more at 2 per step: 40 steps x 1000 tokens, $0.01, 3 s
    assert f.steps == pytest.approx((40, 40, 40))
    assert f.tokens == pytest.approx((40_000, 40_000, 40_000))
    assert f.cost_usd == pytest.approx((0.4, 0.4, 0.4))
    assert f.seconds == pytest.approx((120, 120, 120))
    assert f.samples == 10 and f.within_generations and f.budget_hit_at is None
    assert format_forecast(f).startswith("to 100 verified: 40.0k tokens (40.0k–40.0k) · $0.40")
    free = forecast_from_log(_log(10, tokens=0, usd=0.0), target=100, verified=20)
    assert format_forecast(free).startswith("to 100 verified: 2m00s (2m00s–2m00s)")  # offline


def test_varying_rates_give_an_interval_around_the_point_estimate():
    log = _log(6, verified=1) + _log(6, verified=3, start=(100, 100_000, 1.0, 1000.0))[1:]
    f = forecast_from_log(log, target=200, verified=100)
    low, high = f.steps[1], f.steps[2]
    assert low < f.steps[0] < high
    assert forecast_from_log(log, target=200, verified=100, random_state=1).steps != f.steps


def test_a_restart_gap_is_not_a_sample_and_a_pilot_is_needed():
    first = _log(2, seconds=1.0)
    second = _log(2, seconds=1.0, session=2, start=(4, 2000, 0.02, 10_000.0))
    assert forecast_from_log(first, target=10, verified=4) is None  # 2 < MIN_STEPS samples
    f = forecast_from_log(first + second, target=10, verified=8)
    assert f.samples == 4 == 2 * 2 and f.seconds[0] == pytest.approx(1.0)  # no 10 000 s gap
    assert "first 4 steps" in format_forecast(None) and MIN_STEPS == 3


def test_no_verified_problem_means_n_is_not_reachable():
    f = forecast_from_log(_log(5, verified=0), target=10, verified=0)
    assert f.tokens is None and "not reachable" in format_forecast(f)


def test_a_pilot_with_few_verifying_steps_has_no_upper_bound_and_no_nan(recwarn):
    # one step of four verified: a quarter of the resampled pilots verify nothing
    log = _log(3, verified=0) + _log(1, verified=1, start=(0, 3000, 0.03, 9.0))[1:]
    f = forecast_from_log(log, target=10, verified=1)
    assert f.steps[0] == pytest.approx(36) and f.steps[2] == float("inf")
    assert f.tokens[0] == pytest.approx(36_000) and f.tokens[2] == float("inf")
    line = format_forecast(f)
    assert "36.0k tokens (" in line and "–∞)" in line and "nan" not in line
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    free = forecast_from_log(
        _log(3, verified=0, tokens=0, usd=0.0)
        + _log(1, verified=1, tokens=0, usd=0.0, start=(0, 0, 0.0, 9.0))[1:],
        target=10,
        verified=1,
    )
    assert free.tokens == (0.0, 0.0, 0.0)  # a run that pays nothing costs nothing, ever


def test_warnings_when_the_budget_or_the_generations_end_first():
    f = forecast_from_log(
        _log(5), target=100, verified=0, spent_tokens=5000, budget_tokens=25_000
    )
    # 20 000 tokens left = 20 steps = 40 verified of 100
    assert f.budget_hit_at == pytest.approx(40) and "llm.budget_tokens" in format_forecast(f)
    g = forecast_from_log(_log(5), target=100, verified=0, steps_left=10)
    assert not g.within_generations and g.expected_at_end == pytest.approx(20)
    assert "add generations" in format_forecast(g)


def _llm_config(server, **over):
    base = {
        "engine": "llm",
        "llm": {"base_url": server.base_url, "model": "scripted", "timeout_s": 5,
                "api_key_env": "INFOSYNTH_TEST_NO_KEY", "concurrency": 4},
        "generations": 3, "colonies": 2, "seeds_per_colony": 6, "steps_per_generation": 3,
        "feedback_rounds": 2, "metrics": {"enabled": False}, "n_problems": 1000,
    }  # fmt: skip
    base.update(over)
    return load_run_config(overrides=base)


def test_forecast_after_a_pilot_against_the_outcome_and_before_a_new_run(tmp_path):
    store = Store(tmp_path / "s.db")
    with FakeOpenAIServer(ScriptedLLM(), latency_s=0.02) as server:
        cfg = _llm_config(server)
        run = runner.create_run(store, cfg)
        assert runner.execute(store, run.id) == "finished"
        log = store.get_run(run.id).state["step_log"]
        final_verified, final_tokens = log[-1][1], log[-1][2]
        pilot = 6  # entries: the session start + 5 steps
        at = log[pilot - 1]
        f = forecast_from_log(log[:pilot], target=final_verified, verified=at[1])
        assert f is not None and f.tokens is not None
        actual = final_tokens - at[2]
        # the rest of the run, against the forecast made after the pilot
        print(f"forecast {f.tokens} tokens, actual {actual}")
        assert f.tokens[1] / 2 <= actual <= f.tokens[2] * 2
        # the live forecast line reached the run's progress
        assert "forecast" not in store.get_run(run.id).state["progress"]["forecast"]
        assert "verified" in store.get_run(run.id).state["progress"]["forecast"]
        # a new run on the same endpoint gets a forecast before it starts; another endpoint not
        same = forecast_for_config(store, _llm_config(server, n_problems=50).to_dict())
        assert same is not None and same.target == 50 and run.id in same.source
    other = {**cfg.to_dict(), "llm": {**cfg.to_dict()["llm"], "model": "another"}}
    assert forecast_for_config(store, other) is None


def test_a_run_never_embeds_on_its_event_loop(tmp_path, monkeypatch):
    """The loop stays free for I/O: every embedding (seeds, topic bank, candidates, the
    generation's metrics inputs) runs in a thread, never on the event loop's thread."""
    import asyncio

    from infosynth_core.embed import Embedder

    on_loop: list[int] = []
    encode = Embedder.encode

    def watched(self, texts, *args, **kwargs):
        try:
            asyncio.get_running_loop()
            on_loop.append(len(texts))
        except RuntimeError:
            pass  # no loop in this thread: good
        return encode(self, texts, *args, **kwargs)

    monkeypatch.setattr(Embedder, "encode", watched)
    store = Store(tmp_path / "s.db")
    with FakeOpenAIServer(ScriptedLLM()) as server:
        cfg = _llm_config(
            server, generations=2, steps_per_generation=2,
            metrics={"enabled": True, "runs": 1, "draws": 1, "min_n": 6},
        )  # fmt: skip
        run = runner.create_run(store, cfg)
        assert runner.execute(store, run.id) == "finished"
    assert on_loop == []
    tagged = [sp.problem for sp in store.problems(run_id=run.id) if sp.problem.status == "passed"]
    # LLM runs tag verified problems with the LLM tagger (the paper's), embedding as fallback
    assert tagged and all(p.metadata.get("tagger") in ("llm", "embedding") for p in tagged)
    assert any(p.metadata["tagger"] == "llm" and p.topics for p in tagged)
