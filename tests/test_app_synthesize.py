"""Synthesize and Evaluate pages (Streamlit AppTest through app.py): start an offline run
from the page, watch it finish, stop a run, errors in place; evaluate a model from the page
against the local OpenAI-compatible server."""

from __future__ import annotations

import pytest
from conftest import ROOT, wait_until
from openai_server import FakeOpenAIServer
from scripted_llm import ScriptedLLM, budget_capped_config
from streamlit.testing.v1 import AppTest

from infosynth_core import runner
from infosynth_core.config import load_run_config
from infosynth_core.monitor import generation_rows, run_progress
from infosynth_core.store import Store


@pytest.fixture(autouse=True)
def fresh_store(tmp_path, monkeypatch):
    db = tmp_path / "app.db"
    monkeypatch.setenv("INFOSYNTH_DB", str(db))
    monkeypatch.chdir(ROOT)
    return db


def _page(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _small(at: AppTest, generations: int = 1) -> None:
    at.number_input(key="syn_generations").set_value(generations)
    at.number_input(key="syn_colonies").set_value(1)
    at.number_input(key="syn_bs").set_value(6)
    at.number_input(key="syn_steps").set_value(2)
    at.number_input(key="syn_nit").set_value(1)
    at.toggle(key="syn_metrics").set_value(False)


def test_synthesize_empty_state_says_what_to_do():
    at = _page("pages/synthesize.py")
    assert "No runs yet" in " ".join(i.value for i in at.info)
    assert at.button(key="syn_start")


def test_synthesize_starts_an_offline_run_and_shows_it_finish(fresh_store):
    at = _page("pages/synthesize.py")
    _small(at)
    at.text_input(key="syn_name").set_value("from the page")
    at.button(key="syn_start").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Started run" in s.value for s in at.success)
    store = Store(fresh_store)
    (run,) = store.list_runs()
    assert run.name == "from the page" and run.config["colonies"] == 1
    wait_until(lambda: store.get_run(run.id).status == "finished", 180, "the run to finish")
    at.run()
    assert not at.exception
    assert "finished" in " ".join(h.value for h in at.subheader)
    assert generation_rows(store, run.id)[0]["generation"] == 1
    assert run_progress(store, run.id)["fraction"] == 1.0


def test_synthesize_bad_settings_show_an_error_naming_the_field(fresh_store):
    at = _page("pages/synthesize.py")
    at.radio(key="syn_engine").set_value("llm").run()
    at.text_input(key="syn_model").set_value("")
    at.button(key="syn_start").click().run()
    assert not at.exception
    assert any("llm.model" in e.value for e in at.error), [e.value for e in at.error]
    assert Store(fresh_store).list_runs() == []


def test_synthesize_stop_button_stops_a_running_run(fresh_store):
    at = _page("pages/synthesize.py")
    _small(at, generations=200)
    at.button(key="syn_start").click().run()
    store = Store(fresh_store)
    (run,) = store.list_runs()
    wait_until(lambda: store.get_run(run.id).status == "running", 120, "the runner to start")
    at.run()
    at.button(key="syn_stop").click().run()
    assert not at.exception
    wait_until(lambda: store.get_run(run.id).status == "stopped", 120, "the run to stop")
    at.run()
    assert at.button(key="syn_resume")  # a stopped run can be resumed


def test_evaluate_page_empty_state_then_a_model_evaluated_from_the_page(fresh_store):
    at = _page("pages/evaluate.py")
    assert "No runs yet" in " ".join(i.value for i in at.info)
    store = Store(fresh_store)
    with FakeOpenAIServer(ScriptedLLM()) as server:
        cfg = load_run_config(
            overrides={
                "engine": "llm",
                "llm": {"base_url": server.base_url, "model": "scripted", "backoff_s": 0.01},
                "generations": 1,
                "colonies": 2,
                "seeds_per_colony": 6,
                "steps_per_generation": 2,
                "feedback_rounds": 1,
                "metrics": {"enabled": False},
            }
        )
        run = runner.create_run(store, cfg)
        assert runner.execute(store, run.id) == "finished"
        at = _page("pages/evaluate.py")
        at.text_input(key="eval_base_url").set_value(server.base_url)
        at.text_input(key="eval_model").set_value("scripted")
        at.text_input(key="eval_key_env").set_value("NO_KEY_NEEDED")
        at.number_input(key="eval_samples").set_value(2)
        at.button[0].click().run()  # the form's submit button
        assert not at.exception, [e.message for e in at.exception]
        assert any("Evaluation started" in s.value for s in at.success)
        wait_until(
            lambda: any(e["kind"] == "evaluation" for e in store.events(run.id)),
            180,
            "the evaluation report",
        )
    at.run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "% pass" in d.value.columns)
    assert table.loc[0, "model"] == "scripted"
    assert abs(table.loc[0, ["% pass", "% fail", "% error"]].sum() - 100.0) < 1e-6
    assert {"pass@1", "pass@2"} <= set(table.columns)


def test_synthesize_a_budget_stopped_run_is_raised_and_finished_from_the_page(fresh_store):
    store = Store(fresh_store)
    with FakeOpenAIServer(ScriptedLLM()) as server:
        cfg = budget_capped_config(server.base_url)
        run = runner.create_run(store, cfg)
        assert runner.execute(store, run.id) == "stopped"
        at = _page("pages/synthesize.py")
        assert "stopped" in " ".join(h.value for h in at.subheader)
        assert any("Forecast" in c.value for c in at.caption), [c.value for c in at.caption]
        at.number_input(key="syn_ext_tokens").set_value(10_000_000)
        at.button(key="syn_continue").click().run()
        assert not at.exception, [e.message for e in at.exception]
        wait_until(lambda: store.get_run(run.id).status == "finished", 300, "the run to finish")
    assert store.get_run(run.id).config["llm"]["budget_tokens"] == 10_000_000
    (change,) = runner.config_changes(store, run.id)
    assert change["who"] == "dashboard"
    assert change["changes"] == {"llm.budget_tokens": [3000, 10_000_000]}


def test_synthesize_shows_the_new_run_after_start_when_watching_another(fresh_store):
    # The run picker is keyed: Streamlit kept its old selection, so a tab that watched a
    # finished run went on showing "finished" after Start (it looked like a broken button).
    at = _page("pages/synthesize.py")
    _small(at)
    at.button(key="syn_start").click().run()
    store = Store(fresh_store)
    (first,) = store.list_runs()
    wait_until(lambda: store.get_run(first.id).status == "finished", 180, "the first run")
    at.run()
    assert at.selectbox(key="syn_watch").value == first.id
    _small(at, generations=200)
    at.button(key="syn_start").click().run()
    assert not at.exception, [e.message for e in at.exception]
    second = next(r for r in store.list_runs() if r.id != first.id)
    try:
        assert at.selectbox(key="syn_watch").value == second.id
        heading = " ".join(h.value for h in at.subheader)
        assert "finished" not in heading and ":material/" in heading  # no emoji needed
        at.run()  # and it stays on the new run
        assert at.selectbox(key="syn_watch").value == second.id
    finally:
        runner.request(store, second.id, "stop")
        wait_until(
            lambda: store.get_run(second.id).status in ("stopped", "finished", "failed"),
            120,
            "the second run to stop",
        )
