"""Run the dashboard headless and drive it in Chromium, for the browser test, the screenshots and the benchmark.

Test and benchmark support only: needs Debian's chromium (installed with apt-get on first use when missing) and the
`playwright` Python package; it never runs `playwright install`.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from core.service import Service, free_port, http_ok

log = logging.getLogger(__name__)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
PROJECT_ROOT = Path(__file__).resolve().parents[2]
APP = PROJECT_ROOT / "app" / "streamlit_app.py"

# True once the script run is over (no running indicator), the title is there, no element is still a skeleton, and
# every chart has drawn. A chart of app/plotly_js.py is a Streamlit component in the main area: its container is on
# the page before the component's module has loaded, and only the module adds the `.lh-plotly` div that plotly draws
# into, so each container must hold a drawn div (its SVG, and a trace or heat map when it has data). Counting only
# the `.lh-plotly` divs would take a page whose modules have not loaded yet for a drawn page without charts.
# Streamlit's own plotly and Vega elements count too. The tests and the benchmark share this one check.
PAGE_DRAWN_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.dataset.testScriptState !== 'notRunning') return false;
  if (document.querySelector('[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]')) return false;
  if (!document.querySelector('[data-testid="stMain"] h1')) return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  const drawn = div => !!div && !!div.querySelector('.main-svg')
    && (!(div.data && div.data.length) || !!div.querySelector('.main-svg .trace, .main-svg .hm'));
  const components = [...document.querySelectorAll('[data-testid="stMain"] .stBidiComponent')];
  const plotly = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
  const vega = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
  return components.every(c => drawn(c.querySelector('.lh-plotly')))
    && plotly.every(c => !!c.querySelector('.main-svg .trace, .main-svg .hm'))
    && vega.every(c => !!c.querySelector('canvas, svg.marks'));
}"""


def ensure_chromium() -> Path:
    """Debian's chromium at /usr/bin/chromium, installed with apt-get when missing (needs root)."""
    if CHROMIUM.exists():
        return CHROMIUM
    if shutil.which("apt-get") is None:
        raise RuntimeError("chromium is missing and apt-get is not available: install chromium at /usr/bin/chromium")
    log.info("installing Debian's chromium with apt-get (first run only)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()[-500:]}")
    if not CHROMIUM.exists():
        raise RuntimeError("apt-get installed chromium but /usr/bin/chromium is not there")
    return CHROMIUM


@contextmanager
def streamlit_server(env: Mapping[str, str], log_file: Path, timeout: float = 90.0, app: Path = APP) -> Iterator[str]:
    """`streamlit run app/streamlit_app.py` (or another script) on a free port with these extra environment variables;
    yields its URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port), "--server.address",
           "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]  # fmt: skip
    # the one local admin, as `./dev up` runs it (never the dashboard's default), unless `env` says otherwise
    server = Service(log_file.stem, log_file.parent, stop_timeout=20.0)
    url = f"http://127.0.0.1:{port}"
    server.start(cmd, env={"DASHBOARD_AUTH": "local-admin", **os.environ, **env}, cwd=PROJECT_ROOT,
                 ready=http_ok(f"{url}/_stcore/health"), timeout=timeout)  # fmt: skip
    try:
        yield url
    finally:
        server.stop()


@contextmanager
def chromium_page(width: int = 1280, height: int = 900) -> Iterator[object]:
    """A Playwright page in headless Debian chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(ensure_chromium()), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def wait_drawn(page, timeout: float = 60.0) -> None:
    """Until the script run is over and every chart is drawn."""
    page.wait_for_function(PAGE_DRAWN_JS, timeout=timeout * 1000, polling=50)


def open_and_time(page, url: str, timeout: float = 60.0) -> float:
    """Seconds from navigation until the page is fully drawn."""
    started = time.perf_counter()
    page.goto(url)
    wait_drawn(page, timeout)
    return time.perf_counter() - started
