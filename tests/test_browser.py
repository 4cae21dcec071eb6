"""End to end in a real browser: `streamlit run app.py` driven by Playwright in Debian Chromium.

Needs /usr/bin/chromium (``make test`` installs Debian's package when it is root with apt).
Never runs ``playwright install``. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

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
    assert [t.split()[-1] for t in nav] == ["Runs", "Seeds"]  # "<icon>\n\n<title>"
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
    assert [p.id for p in store.seed_set_problems("uploaded-he")] == ["Fixture/0", "Fixture/1"]

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
            assert [t.split()[-1] for t in links] == ["Runs", "Seeds"]
        finally:
            browser.close()
