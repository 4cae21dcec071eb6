"""End to end in a real browser: `streamlit run app.py` driven by Playwright in Debian Chromium.

Needs /usr/bin/chromium (``make test`` installs Debian's package when it is root with apt).
Never runs ``playwright install``. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ARTIFACTS

from infosynth_core import Store

CHROMIUM = Path("/usr/bin/chromium")
FIX = Path(__file__).parent / "fixtures"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

PAGES = ["Runs", "Seeds", "Synthesize", "Explore", "Review", "Compare", "Evaluate"]

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian chromium not installed (/usr/bin/chromium); run `make test` as root to install it",
)


def test_dashboard_server_health_is_ok(dashboard):
    with urllib.request.urlopen(dashboard + "/_stcore/health", timeout=5) as r:
        assert r.read().decode().strip() == "ok"


@pytest.fixture
def page(dashboard):
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            pg = browser.new_page(viewport={"width": 1400, "height": 1000})
            pg.set_default_timeout(30_000)
            pg.goto(dashboard)
            yield pg
        finally:
            browser.close()


@pytest.mark.browser
@needs_chromium
def test_browser_open_app_and_upload_a_seed_file(page, tmp_path):
    page.get_by_text("No runs yet").wait_for()
    nav = page.get_by_test_id("stSidebarNavLink").all_inner_texts()
    assert [t.split()[-1] for t in nav] == PAGES  # "<icon>\n\n<title>"
    page.screenshot(path=str(ARTIFACTS / "01-runs-empty.png"), full_page=True)

    page.get_by_test_id("stSidebarNavLink").filter(has_text="Seeds").click()
    page.get_by_text("Saved seed sets").wait_for()
    # the bundled set is loaded on first start (shown in the set picker)
    picker = page.get_by_label("Show the problems of")
    picker.wait_for()
    assert picker.input_value() == "bundled"
    page.screenshot(path=str(ARTIFACTS / "02-seeds-bundled.png"), full_page=True)

    page.get_by_text("Upload a file").click()
    page.locator("input[type=file]").set_input_files(str(FIX / "humaneval_small.jsonl"))
    page.get_by_text("2 problems").first.wait_for()
    name = page.get_by_label("Save as seed set")
    name.fill("uploaded-he")
    name.press("Enter")
    page.get_by_role("button", name="Save seed set").click()
    page.get_by_text("Saved 2 problems as seed set 'uploaded-he'").wait_for()
    page.screenshot(path=str(ARTIFACTS / "03-seeds-uploaded.png"), full_page=True)

    store = Store(tmp_path / "dash.db")  # the dashboard fixture's store
    assert [p.id for p in store.seed_set_problems("uploaded-he")] == ["Fixture-0", "Fixture-1"]

    # a malformed file: the errors appear in place and nothing is stored
    page.locator("input[type=file]").set_input_files(str(FIX / "malformed.jsonl"))
    page.get_by_text("nothing was imported").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "04-seeds-malformed.png"), full_page=True)
    assert [s.name for s in store.list_seed_sets()] == ["bundled", "uploaded-he"]


@pytest.mark.browser
@needs_chromium
def test_browser_first_load_of_a_deep_link_uses_app_navigation(dashboard):
    """The very first request to a fresh server, straight at /seeds, gets InfoSynth's own
    navigation (Runs, Seeds), not Streamlit's legacy file list (app, common, runs, seeds)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            pg = browser.new_page()
            pg.goto(dashboard + "/seeds")
            pg.get_by_text("Saved seed sets").wait_for(timeout=30_000)
            links = pg.get_by_test_id("stSidebarNavLink").all_inner_texts()
            # each link's text is "<icon name>\n\n<title>"
            assert [t.split()[-1] for t in links] == PAGES
        finally:
            browser.close()


def _points_total(page) -> int:
    """The map's point count from its caption ("x of N points")."""
    text = page.get_by_text(re.compile(r"of [\d,]+ points")).first.inner_text()
    return int(re.search(r"of ([\d,]+) points", text).group(1).replace(",", ""))


def _nav(page, title: str) -> None:
    page.get_by_test_id("stSidebarNavLink").filter(has_text=title).click()


@pytest.mark.browser
@needs_chromium
def test_browser_demo_flow_offline_run_map_curves_accept_export(page, dashboard, tmp_path):
    """Fresh store: bundled seeds → an offline run of 2 generations started in the browser →
    the map and the curves appear and grow → accept a problem → export → the file loads."""
    from infosynth_core import load_problems

    _nav(page, "Synthesize")
    page.get_by_text("No runs yet").wait_for()
    for label, value in [
        ("Generations", "2"),
        ("Colonies (N_c)", "2"),
        ("Seeds per colony (B_s)", "6"),
        ("Steps per colony and generation", "2"),
        ("Feedback rounds (N_it)", "1"),
        ("UMAP fits per generation", "1"),
    ]:
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Tab")
    page.get_by_role("button", name="Start run").click()
    page.get_by_text("Started run").wait_for()
    page.screenshot(path=str(ARTIFACTS / "10-synthesize-started.png"), full_page=True)
    page.get_by_text(re.compile(r"generation \d of 2")).first.wait_for(timeout=120_000)

    _nav(page, "Explore")
    page.get_by_role("heading", name="Map").first.wait_for(timeout=180_000)
    page.get_by_text(re.compile(r"of [\d,]+ points")).first.wait_for(timeout=180_000)
    first = _points_total(page)
    page.screenshot(path=str(ARTIFACTS / "11-explore-early.png"), full_page=True)
    # the page refreshes itself while the run goes on: the map grows, the curves appear
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and _points_total(page) <= first:
        time.sleep(1)
    assert _points_total(page) > first, "the map did not grow"
    page.locator(".stPlotlyChart").nth(1).wait_for(
        timeout=300_000
    )  # a second chart: topics (curves come after)
    page.get_by_text("The run is finished").or_(page.get_by_text("finished")).first.wait_for(
        timeout=300_000
    )
    page.get_by_role("heading", name="Operator yield").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "12-explore-finished.png"), full_page=True)
    # a demo run this small is below the calibrated measures' minimum N: the default view says
    # so instead of drawing a number; the raw view draws the curves (labelled as raw)
    page.get_by_text(re.compile(r"too few to measure")).first.wait_for(timeout=300_000)
    page.get_by_text("Raw", exact=True).last.click()  # a rerun can briefly show two
    page.get_by_text(re.compile(r"Raw novelty: KL divergence")).first.wait_for(timeout=120_000)
    page.screenshot(path=str(ARTIFACTS / "12b-explore-raw.png"), full_page=True)
    assert page.locator(".stPlotlyChart").count() >= 3  # map, novelty, diversity (+ topics)

    _nav(page, "Review")
    page.get_by_role("heading", name="Problem detail").first.wait_for(timeout=120_000)
    page.get_by_role("button", name="Accept", exact=True).click()
    page.get_by_role("button", name=re.compile(r"Export 1 accepted")).wait_for(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "13-review-accepted.png"), full_page=True)
    page.get_by_role("button", name=re.compile(r"Export 1 accepted")).click()
    done = page.get_by_text(re.compile(r"Exported 1 problem\(s\) to"))
    done.wait_for(timeout=60_000)
    path = re.search(r"to `?([^`]+\.jsonl)`?", done.inner_text()).group(1)
    page.screenshot(path=str(ARTIFACTS / "14-review-exported.png"), full_page=True)
    exported = load_problems(path).problems
    assert len(exported) == 1 and exported[0].review == "accepted"
    assert exported[0].status == "passed" and exported[0].origin.generation in (1, 2)


@pytest.mark.browser
@needs_chromium
def test_browser_a_budget_stopped_run_is_raised_and_finished(page, dashboard, tmp_path):
    """An LLM run (scripted local server) stopped by its token budget: the Synthesize page
    shows why and the forecast, the Continue form is open, the budget is raised in the
    browser and the run finishes, with the change recorded as who/what."""
    from openai_server import FakeOpenAIServer
    from scripted_llm import ScriptedLLM, budget_capped_config

    from infosynth_core import runner

    store = Store(tmp_path / "dash.db")  # the dashboard's store (conftest's fixture)
    with FakeOpenAIServer(ScriptedLLM()) as server:
        cfg = budget_capped_config(server.base_url)
        run = runner.create_run(store, cfg)
        outcome: list[str] = []  # Playwright's loop owns this thread: the run goes in another
        worker = threading.Thread(target=lambda: outcome.append(runner.execute(store, run.id)))
        worker.start()
        worker.join(600)
        assert outcome == ["stopped"]
        _nav(page, "Synthesize")
        page.get_by_text("the run's budget is spent").first.wait_for(timeout=60_000)
        page.get_by_text(re.compile(r"^Forecast:")).first.wait_for()
        box = page.get_by_label("Token budget (0 = none)", exact=True)
        box.fill("10000000")
        box.press("Tab")
        page.screenshot(path=str(ARTIFACTS / "15-synthesize-budget-stop.png"), full_page=True)
        page.get_by_role("button", name="Apply and continue").click()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and store.get_run(run.id).status != "finished":
            time.sleep(1)
        assert store.get_run(run.id).status == "finished"
    page.get_by_role("heading", name=re.compile("finished")).first.wait_for(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "16-synthesize-continued.png"), full_page=True)
    (change,) = runner.config_changes(store, run.id)
    assert change["who"] == "dashboard"
    assert change["changes"] == {"llm.budget_tokens": [3000, 10_000_000]}
