"""Refresh the README's screenshots on purpose: a demo dashboard (synthetic lakehouse, real Kafka) drawn in Chromium.

    python -m tests.support.screenshots [--out docs/screenshots]

Uses the cluster in KAFKA_BOOTSTRAP_SERVERS if set, else a throwaway local broker; the browser test runs the same tour.
"""

from __future__ import annotations

import argparse
import logging
import re
import struct
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.navigation import PAGES
from core.kafka_broker import LocalBroker, create_topics
from core.service import free_port_pair
from core.settings import Settings
from simulator import control
from tests.support.demo_data import DemoSpec, write_demo_lakehouse
from tests.support.harness import PROJECT_ROOT, chromium_page, open_and_time, streamlit_server, wait_drawn

log = logging.getLogger(__name__)

SIMULATOR_RUNNING = "operations-simulator-running"
NAMES = (*(spec.url_path for spec in PAGES), SIMULATOR_RUNNING)  # one PNG each, named as the README links them
VIEWPORT = (1280, 900)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# True once the Operations page's State metric matches the pattern (its status fragment redraws itself, no reload).
STATE_MATCHES_JS = """p => [...document.querySelectorAll('[data-testid="stMetric"]')]
  .some(m => m.innerText.startsWith('State') && new RegExp(p).test(m.innerText))"""


@contextmanager
def demo_dashboard(root: Path, kafka_bootstrap: str) -> Iterator[str]:
    """`streamlit run` over a demo lakehouse under `root`, on topics of its own on this broker; yields its URL and
    leaves no simulator running, whatever happened on the page."""
    write_demo_lakehouse(root / "lakehouse", DemoSpec(sessions=600, members=80))
    prefix = f"ui{uuid.uuid4().hex[:6]}."
    create_topics(kafka_bootstrap, list(Settings.from_env({"KAFKA_TOPIC_PREFIX": prefix}).topics.values()))
    env = {"LAKEHOUSE_DIR": str(root / "lakehouse"), "LAKEHOUSE_DATA_DIR": str(root / "data"),
           "SOURCE_DB_URL": str(root / "source.db"), "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "KAFKA_TOPIC_PREFIX": prefix, "DASHBOARD_REFRESH_SECONDS": "10", "DATABRICKS_SERVER_HOSTNAME": "",
           "DATABRICKS_HTTP_PATH": "", "DATABRICKS_TOKEN": ""}  # fmt: skip
    try:
        with streamlit_server(env, root / "streamlit.log") as url:
            yield url
    finally:
        control.stop(Settings.from_env(env))


def metric(page, label: str) -> str:
    """The value shown by the first metric with this label."""
    box = page.locator('[data-testid="stMetric"]', has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text()


def start_simulator(page, timeout: float = 90.0) -> str:
    """Click "Start simulator" on the Operations page and wait, without a reload, until the status fragment (which
    redraws itself) reports the run; the State then shown."""
    page.get_by_role("button", name=re.compile("Start simulator")).click()
    page.wait_for_function(STATE_MATCHES_JS, arg=r"\b(running|failed)\b", timeout=timeout * 1000, polling=250)
    return metric(page, "State")


def stop_simulator(page, timeout: float = 60.0) -> None:
    """Click "Stop simulator" and wait until the State says stopped."""
    page.get_by_role("button", name=re.compile("Stop simulator")).click()
    page.wait_for_function(STATE_MATCHES_JS, arg="stopped", timeout=timeout * 1000, polling=250)


def save_screenshot(page, path: Path, title: str) -> Path:
    """The drawn page as a PNG at `path`; refuses to save when the page shown is not the one titled `title`."""
    wait_drawn(page)
    shown = page.locator('[data-testid="stMain"] h1').first.inner_text()
    if shown != title:
        raise RuntimeError(f"expected the page {title!r} for {path.name}, the browser shows {shown!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    return path


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG file, read from its header; ValueError when the file is not a PNG."""
    head = path.read_bytes()[:24]
    if len(head) < 24 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG image")
    return struct.unpack(">II", head[16:24])


def take_screenshots(page, url: str, out: Path) -> dict[str, Path]:
    """Every page drawn, then the Operations page with the simulator running (stopped again afterwards): one PNG per
    name of NAMES in `out`."""
    shots = {}
    for spec in PAGES:
        open_and_time(page, f"{url}/{spec.url}")
        shots[spec.url_path] = save_screenshot(page, out / f"{spec.url_path}.png", spec.title)
    operations = next(spec for spec in PAGES if spec.url_path == "operations")
    open_and_time(page, f"{url}/{operations.url}")
    state = start_simulator(page)
    if state != "running":
        shown = page.locator('[data-testid="stMain"]').inner_text()[:1500]
        raise RuntimeError(f"the simulator did not start (state {state!r}); the page shows: {shown}")
    shots[SIMULATOR_RUNNING] = save_screenshot(page, out / f"{SIMULATOR_RUNNING}.png", operations.title)
    stop_simulator(page)
    return shots


@contextmanager
def kafka(workdir: Path) -> Iterator[str]:
    """The bootstrap servers of the cluster in KAFKA_BOOTSTRAP_SERVERS, else of a local broker for the block."""
    settings = Settings.from_env()
    if settings.kafka_external:
        yield settings.kafka_bootstrap_servers
        return
    port = free_port_pair()
    broker = LocalBroker(data_dir=workdir / "kafka", cache_dir=settings.cache_dir, port=port, controller_port=port + 1)
    try:
        yield broker.start()
    finally:
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "screenshots", help="where the PNGs go")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp, kafka(Path(tmp)) as bootstrap:
        with demo_dashboard(Path(tmp), bootstrap) as url, chromium_page(*VIEWPORT) as page:
            shots = take_screenshots(page, url, args.out)
    for name, path in shots.items():
        log.info("%s: %s (%d x %d)", name, path, *png_size(path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
