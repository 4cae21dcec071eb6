"""Hostile stored text in a real browser: `streamlit run app.py` over a store full of markup
(tests/hostile.py), driven by Playwright in Debian Chromium.

Every page is visited (Runs, Seeds with its map, Synthesize, Explore with a hovered map point
and an opened problem, Review with its attempts, lineage and diff, Compare, Evaluate). Every
request the page makes is recorded and anything not for the dashboard itself is blocked. At
the end: no request left 127.0.0.1:<port>, no link or image points anywhere else, no script
from the store ran, and the hostile text is on screen as text.

Needs /usr/bin/chromium; never runs ``playwright install``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from conftest import ARTIFACTS
from hostile import (
    HOSTILE_ERROR,
    HOSTILE_MODEL,
    HOSTILE_RUN_NAME,
    HOSTILE_SEED_SET,
    HOSTILE_TOPICS,
    NOTE,
    PAYLOADS,
    build_hostile_store,
)
from test_browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium

from infosynth_core import Store
from infosynth_core.textsafe import WORD_JOINER

LONG = 240_000  # ms: the first map of a server waits for UMAP's one-time compile

# Links and media of the page: (tag, url) for every <a> (HTML or SVG) and every element that
# loads something; the dashboard's own links and data/blob URLs are allowed.
LINKS_AND_MEDIA = """() => {
  const out = [];
  const href = (el) => el.getAttribute('href')
    ?? el.getAttributeNS('http://www.w3.org/1999/xlink', 'href');
  for (const el of document.querySelectorAll('a')) out.push(['a', href(el) ?? '']);
  for (const el of document.querySelectorAll('img, image, iframe, frame, video, audio, source, '
                                             + 'embed, object, link, script')) {
    const url = el.getAttribute('src') ?? el.getAttribute('data') ?? href(el);
    if (url) out.push([el.tagName.toLowerCase(), url]);
  }
  return out;
}"""
VISIBLE_TEXT = "() => document.body.innerText"
HAS_TEXT = """(needle) => document.body.innerText.replaceAll('\\u2060', '').includes(needle)"""
# The pixel position of a plotted point, in page coordinates (WebGL points are not in the DOM).
POINT_POSITION = """([chart, id]) => {
  const gd = document.querySelectorAll('.stPlotlyChart .js-plotly-plot')[chart];
  const trace = gd._fullData.find((t) => (t.customdata || []).some((c) => c[1] === id));
  const index = trace.customdata.findIndex((c) => c[1] === id);
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
  return {
    x: box.left + xa.l2p(xa.d2l(trace.x[index])),
    y: box.top + ya.l2p(ya.d2l(trace.y[index])),
    id: trace.customdata[index][1],
  };
}"""


def _visible(page) -> str:
    return page.evaluate(VISIBLE_TEXT).replace(WORD_JOINER, "")


def _shows(page, text: str, timeout: float = 60_000) -> None:
    """Wait until ``text`` is on screen as text (word joiners aside)."""
    page.wait_for_function(HAS_TEXT, arg=text, timeout=timeout)


def _nav(page, title: str) -> None:
    page.get_by_test_id("stSidebarNavLink").filter(has_text=title).click()
    page.get_by_role("heading", name=title, exact=True).first.wait_for()


@pytest.fixture
def hostile_dashboard(tmp_path, request):
    """The dashboard (conftest's fixture) serving the hostile store it opens at dash.db."""
    info = build_hostile_store(tmp_path / "dash.db")
    url = request.getfixturevalue("dashboard")
    return url, info


@pytest.mark.browser
@needs_chromium
def test_browser_hostile_text_is_shown_as_text_and_nothing_leaves(hostile_dashboard, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    url, info = hostile_dashboard
    origin = urlsplit(url).netloc  # 127.0.0.1:<port>
    requests: list[str] = []
    blocked: list[str] = []
    bad_links: list[tuple[str, str, str]] = []
    store = Store(tmp_path / "dash.db")
    run_id = info["runs"][-1]
    problems = {sp.problem.id: sp.problem for sp in store.problems(run_id=run_id)}
    on_map = {p.id: p for p in store.seed_set_problems(HOSTILE_SEED_SET)} | problems
    target = next(p for p in problems.values() if PAYLOADS["hover"] in p.problem)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def route(r):
        parts = urlsplit(r.request.url)
        if parts.scheme in ("data", "blob") or parts.netloc == origin:
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    def check_links(page, where: str) -> None:
        for tag, link in page.evaluate(LINKS_AND_MEDIA):
            parts = urlsplit(link)
            own = parts.netloc == origin or (not parts.scheme and not parts.netloc)
            if parts.scheme in ("data", "blob") and tag != "a":
                own = True
            if not own or parts.scheme not in ("", "http", "data", "blob"):
                bad_links.append((where, tag, link))

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.route("**/*", route)
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.on("request", lambda r: requests.append(r.url))
            page.on("websocket", lambda ws: requests.append(ws.url))
            page.goto(url)

            # Runs: the hostile run names sit in a table (canvas text, nothing to click)
            page.get_by_role("heading", name="Runs", exact=True).first.wait_for()
            page.get_by_test_id("stDataFrame").first.wait_for()
            check_links(page, "runs")

            # Seeds: the hostile set, one of its problems, its map
            _nav(page, "Seeds")
            page.get_by_label("Show the problems of").click()
            page.get_by_role("option", name=HOSTILE_SEED_SET, exact=True).click()
            _shows(page, f"Delete seed set '{HOSTILE_SEED_SET}'")
            page.get_by_text("Inspect a problem").click()
            seed = store.seed_set_problems(HOSTILE_SEED_SET)[0]
            _shows(page, ", ".join(seed.topics))
            page.get_by_text("Map of this set, coloured by topic").click()
            page.locator(".stPlotlyChart .legendtext").first.wait_for(timeout=LONG)
            legend = page.locator(".stPlotlyChart .legendtext").all_text_contents()
            assert set(HOSTILE_TOPICS) <= set(legend)  # the topics, as text
            page.screenshot(path=str(ARTIFACTS / "hostile-01-seeds.png"), full_page=True)
            check_links(page, "seeds")

            # Synthesize: the run's error text
            _nav(page, "Synthesize")
            _shows(page, HOSTILE_ERROR)
            check_links(page, "synthesize")

            # Explore: the run's error, the map (hover the point whose statement holds the
            # Plotly payload), a problem by id
            _nav(page, "Explore")
            _shows(page, HOSTILE_ERROR)
            page.get_by_text(re.compile(r"of [\d,]+ points")).first.wait_for(timeout=LONG)
            chart = page.locator(".stPlotlyChart").first
            chart.scroll_into_view_if_needed()
            chart.locator(".nsewdrag").wait_for()
            label = chart.locator(".hoverlayer .hovertext").first
            for _ in range(3):  # a rerun may redraw the chart under the mouse: aim again
                at = page.evaluate(POINT_POSITION, [0, target.id])
                page.mouse.move(at["x"] - 20, at["y"] - 20)
                page.mouse.move(at["x"], at["y"], steps=5)
                try:
                    label.wait_for(timeout=10_000)
                    break
                except sync_api.TimeoutError:
                    continue
            shown = label.text_content()
            hovered = on_map[re.match(r"[\w.-]+", shown).group(0)]  # the label starts with its id
            squeeze = lambda s: re.sub(r"\s+", "", s)  # noqa: E731 - wrapped at spaces
            assert squeeze(hovered.problem) in squeeze(shown)
            assert page.locator(".stPlotlyChart .hoverlayer a").count() == 0
            page.screenshot(path=str(ARTIFACTS / "hostile-02-explore-hover.png"), full_page=True)
            assert at["id"] == target.id
            if hovered.id == target.id:  # not another point drawn on top of it
                assert squeeze(PAYLOADS["hover"]) in squeeze(shown)
            check_links(page, "explore map")
            box = page.get_by_label("Open a problem by id")
            box.fill(hovered.id)
            box.press("Enter")
            _shows(page, ", ".join(hovered.topics))
            check_links(page, "explore problem")

            # Review: the detail, attempts (expander), lineage and diff (tabs)
            _nav(page, "Review")
            page.get_by_role("heading", name="Problem detail").first.wait_for()
            first = next(iter(problems.values()))
            _shows(page, ", ".join(first.topics))
            page.get_by_role("tab", name="Attempts").click()
            _shows(page, f"Note: {NOTE}")
            page.get_by_role("tab", name="Lineage and diff").click()
            parent = info["statements"][info["parent"]]
            _shows(page, " ".join(parent.split())[:160])
            assert PAYLOADS["image"] in _visible(page)  # the diff: a code block
            page.screenshot(path=str(ARTIFACTS / "hostile-03-review-lineage.png"), full_page=True)
            check_links(page, "review")

            # Compare: run names and topics as chart labels
            _nav(page, "Compare")
            page.locator(".stPlotlyChart").nth(1).wait_for()
            labels = page.locator(".stPlotlyChart svg text").all_text_contents()
            assert HOSTILE_RUN_NAME in labels and HOSTILE_TOPICS[1] in labels
            check_links(page, "compare")

            # Evaluate: the model name
            _nav(page, "Evaluate")
            _shows(page, f"Per problem — {HOSTILE_MODEL}")
            _shows(page, f"Evaluating {HOSTILE_MODEL}")
            page.screenshot(path=str(ARTIFACTS / "hostile-04-evaluate.png"), full_page=True)
            check_links(page, "evaluate")

            assert page.evaluate("() => window.__pwned") is None  # no stored script ran
            assert page.locator("iframe").count() == 0
        finally:
            browser.close()
            store.close()

    outside = [u for u in requests if urlsplit(u).netloc not in (origin, "")]
    assert not outside and not blocked, (outside, blocked)
    assert not bad_links, bad_links
