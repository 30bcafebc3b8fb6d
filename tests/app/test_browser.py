"""The real thing in headless Chromium: `streamlit run` over a small lakehouse and a real Kafka broker.

Opens every page, changes a filter, starts and stops the simulator, and saves the README's screenshots.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from app import simulator_controls
from app.navigation import PAGES
from core.kafka_broker import create_topics
from core.settings import Settings
from tests.support.demo_data import DemoSpec, write_demo_lakehouse
from tests.support.harness import chromium_page, ensure_chromium, open_and_time, streamlit_server, wait_drawn

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHARTS = {"workout-bpm": 4, "gym-usage": 5}  # drawn by plotly.js's basic bundle (app/plotly_js.py)
TRACE_NAMES = "() => [...document.querySelectorAll('.lh-plotly')].map(c => (c.data || []).map(t => t.name))"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> str:
    ensure_chromium()
    root = tmp_path_factory.mktemp("browser")
    write_demo_lakehouse(root / "lakehouse", DemoSpec(sessions=600, members=80))
    prefix = f"ui{uuid.uuid4().hex[:6]}."
    create_topics(kafka_bootstrap, list(Settings.from_env({"KAFKA_TOPIC_PREFIX": prefix}).topics.values()))
    env = {"LAKEHOUSE_DIR": str(root / "lakehouse"), "LAKEHOUSE_DATA_DIR": str(root / "data"),
           "SOURCE_DB_URL": str(root / "source.db"), "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "KAFKA_TOPIC_PREFIX": prefix, "DASHBOARD_REFRESH_SECONDS": "10"}  # fmt: skip
    for name in ("DATABRICKS_SERVER_HOSTNAME", "DATABRICKS_HTTP_PATH", "DATABRICKS_TOKEN"):
        env[name] = ""
    try:
        with streamlit_server(env, root / "streamlit.log") as url:
            yield url
    finally:
        simulator_controls.stop(Settings.from_env(env))  # never leave a simulator running, whatever the test did


def _metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]', has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text()


def test_every_page_draws_and_the_controls_work(server: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with chromium_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        for spec in PAGES:
            open_and_time(page, f"{server}/{spec.url}")  # timings are the benchmark's business, not this test's
            assert page.locator('[data-testid="stException"]').count() == 0, spec.title
            assert page.locator("h1").first.inner_text() == spec.title
            assert "Page not found" not in page.inner_text("body")
            assert page.locator('[data-testid="stPlotlyChart"]').count() == 0, spec.title  # never the 4.7 MB bundle
            if spec.url_path in CHARTS:
                assert page.locator(".lh-plotly:has(.main-svg)").count() == CHARTS[spec.url_path], spec.title
            if spec.url_path == "gym-usage":  # its 3 heat maps: an image of the cells each, scaled without smoothing
                rendering = "i => getComputedStyle(i).imageRendering"
                assert (
                    page.eval_on_selector_all(".lh-plotly .imagelayer image", f"a => a.map({rendering})")
                    == ["pixelated"] * 3
                )
            page.screenshot(path=str(SCREENSHOTS / f"{spec.url_path}.png"))

        # a filter: only women
        open_and_time(page, server)
        everyone = int(_metric(page, "Sessions").replace(",", ""))
        page.locator('[data-testid="stMultiSelect"]', has_text="Gender").click()
        page.get_by_role("option", name="female", exact=True).click()
        page.keyboard.press("Escape")
        page.wait_for_function(
            """n => { const v = [...document.querySelectorAll('[data-testid="stMetric"]')]
                 .find(m => m.innerText.startsWith('Sessions')); return v && !v.innerText.includes(n) }""",
            arg=f"{everyone:,}", timeout=30_000, polling=100,
        )  # fmt: skip
        wait_drawn(page)
        assert 0 < int(_metric(page, "Sessions").replace(",", "")) < everyone
        page.wait_for_function(f"() => ({TRACE_NAMES})()[0].join() === 'female'", timeout=30_000, polling=100)

        # the simulator: start, see it run, stop
        open_and_time(page, f"{server}/operations")
        assert "unavailable" not in page.locator('[data-testid="stMain"]').inner_text().lower()
        page.get_by_role("button", name=re.compile("Start simulator")).click()
        # no click, no reload: the status fragment redraws itself (auto-refresh, 10 s) until the run reports in
        page.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid="stMetric"]')]
                 .some(m => m.innerText.startsWith('State') && /\\b(running|failed)\\b/.test(m.innerText))""",
            timeout=90_000,
            polling=250,
        )
        assert _metric(page, "State") == "running", page.locator('[data-testid="stMain"]').inner_text()[:1500]
        wait_drawn(page)
        page.screenshot(path=str(SCREENSHOTS / "operations-simulator-running.png"))
        page.get_by_role("button", name=re.compile("Stop simulator")).click()
        page.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid="stMetric"]')]
                 .some(m => m.innerText.startsWith('State') && /stopped/.test(m.innerText))""",
            timeout=60_000,
            polling=250,
        )  # fmt: skip
        assert not errors, errors
