"""The real thing in headless Chromium: `streamlit run` over a small lakehouse and a real Kafka broker.

Opens every page, changes a filter, starts and stops the simulator, and takes the README's screenshots (into a
temporary folder: `python -m tests.support.screenshots` refreshes the README's own).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.navigation import PAGES
from tests.support.harness import chromium_page, ensure_chromium, open_and_time, wait_drawn
from tests.support.screenshots import (
    NAMES,
    VIEWPORT,
    demo_dashboard,
    metric,
    png_size,
    start_simulator,
    stop_simulator,
    take_screenshots,
)

CHARTS = {"workout-bpm": 4, "gym-usage": 5}  # drawn by plotly.js's basic bundle (app/plotly_js.py)
TRACE_NAMES = "() => [...document.querySelectorAll('.lh-plotly')].map(c => (c.data || []).map(t => t.name))"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> str:
    ensure_chromium()
    with demo_dashboard(tmp_path_factory.mktemp("browser"), kafka_bootstrap) as url:
        yield url


def test_every_page_draws_and_the_controls_work(server: str) -> None:
    with chromium_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        for spec in PAGES:
            open_and_time(page, f"{server}/{spec.url}")  # timings are the benchmark's business, not this test's
            assert page.locator('[data-testid="stException"]').count() == 0, spec.title
            assert page.locator("h1").first.inner_text() == spec.title
            assert "Page not found" not in page.inner_text("body")
            assert page.locator('[data-testid="stPlotlyChart"]').count() == 0, spec.title  # never the full bundle
            if spec.url_path in CHARTS:
                assert page.locator(".lh-plotly:has(.main-svg)").count() == CHARTS[spec.url_path], spec.title
            if spec.url_path == "gym-usage":  # its 3 heat maps: an image of the cells each, scaled without smoothing
                rendering = "i => getComputedStyle(i).imageRendering"
                assert (
                    page.eval_on_selector_all(".lh-plotly .imagelayer image", f"a => a.map({rendering})")
                    == ["pixelated"] * 3
                )

        # a filter: only women
        open_and_time(page, server)
        everyone = int(metric(page, "Sessions").replace(",", ""))
        page.locator('[data-testid="stMultiSelect"]', has_text="Gender").click()
        page.get_by_role("option", name="female", exact=True).click()
        page.keyboard.press("Escape")
        page.wait_for_function(
            """n => { const v = [...document.querySelectorAll('[data-testid="stMetric"]')]
                 .find(m => m.innerText.startsWith('Sessions')); return v && !v.innerText.includes(n) }""",
            arg=f"{everyone:,}", timeout=30_000, polling=100,
        )  # fmt: skip
        wait_drawn(page)
        assert 0 < int(metric(page, "Sessions").replace(",", "")) < everyone
        page.wait_for_function(f"() => ({TRACE_NAMES})()[0].join() === 'female'", timeout=30_000, polling=100)

        # the simulator: start, see it run, stop
        open_and_time(page, f"{server}/operations")
        assert "unavailable" not in page.locator('[data-testid="stMain"]').inner_text().lower()
        state = start_simulator(page)
        assert state == "running", page.locator('[data-testid="stMain"]').inner_text()[:1500]
        stop_simulator(page)
        assert not errors, errors


def test_the_readme_screenshots_are_pngs_of_each_page(server: str, tmp_path: Path) -> None:
    with chromium_page(*VIEWPORT) as page:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        shots = take_screenshots(page, server, tmp_path)
    assert not errors, errors
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{name}.png" for name in NAMES)
    assert {name: path.name for name, path in shots.items()} == {name: f"{name}.png" for name in NAMES}
    assert all(png_size(path) == VIEWPORT for path in shots.values())
    assert len({path.read_bytes() for path in shots.values()}) == len(NAMES)  # every page looks different
