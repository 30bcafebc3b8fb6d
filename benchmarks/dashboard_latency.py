"""Dashboard latency over a gold layer of 1,000,000 workout sessions: query p50/p95 per page on the local engine,
beside a plain full-table DuckDB scan of the same table, and the time until each page is fully drawn in Chromium,
beside an empty Streamlit page (Streamlit's own start-up) measured the same way in the same run.

    python -m benchmarks dashboard_latency [--sessions N] [--repeat N] [--visits N] [--dir DIR] [--no-browser]

Targets: every query's p95 under 100 ms on the local engine; every page drawn in under 2 s. The machine's load
average is printed next to the figures: on a shared machine every figure grows with it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

log = logging.getLogger(__name__)

QUERY_TARGET_MS = 100.0
PAGE_TARGET_S = 2.0


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def _time(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # warm-up: loads the table into the engine, compiles the query
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def ensure_lakehouse(root: Path, sessions: int) -> Path:
    """A synthetic lakehouse of `sessions` workouts under root, generated once and reused while the size matches."""
    from tests.support.demo_data import DemoSpec, write_demo_lakehouse

    marker = root / "benchmark.json"
    if marker.exists() and json.loads(marker.read_text()).get("sessions") == sessions:
        return root
    started = time.perf_counter()
    counts = write_demo_lakehouse(root, DemoSpec(sessions=sessions, members=max(60, sessions // 50), gyms=12,
                                                 days=180, reading_sessions=20_000))  # fmt: skip
    marker.write_text(json.dumps({"sessions": sessions, "counts": counts}))
    print(f"generated {', '.join(f'{k}={v:,}' for k, v in counts.items())} in {time.perf_counter() - started:.1f} s")
    return root


def page_queries(engine) -> dict[str, list]:
    """The queries each page runs on one draw, with the filters a manager would start from."""
    from app import queries as q

    bounds = engine.query(q.workout_date_bounds()).to_pylist()[0]
    wf = q.WorkoutFilters(max(bounds["first_day"], bounds["last_day"] - timedelta(days=29)), bounds["last_day"])
    narrow = q.WorkoutFilters(wf.start, wf.end, gyms=(1, 2), genders=("F",), states=("CA",))
    first = engine.query(q.session_table(wf, limit=1)).to_pylist()[0]
    gb = engine.query(q.gym_date_bounds()).to_pylist()[0]
    gf = q.GymFilters(max(gb["first_day"], gb["last_day"] - timedelta(days=29)), gb["last_day"])
    return {
        "Workout BPM": [
            q.workout_date_bounds(),
            q.workout_filter_options(),
            q.workout_kpis(wf),
            q.bpm_by_age_gender(wf),
            q.avg_bpm_distribution(wf, 5),
            q.daily_trend(wf),
            q.session_table(wf),
            q.session_readings(first["user_id"], first["workout_id"], first["session_id"]),
        ],
        "Workout BPM (filtered)": [
            q.workout_kpis(narrow),
            q.bpm_by_age_gender(narrow),
            q.avg_bpm_distribution(narrow, 5),
            q.daily_trend(narrow),
            q.session_table(narrow, "max_bpm"),
        ],
        "Gym usage": [
            q.gym_date_bounds(),
            q.gym_options(),
            q.visits_per_day(gf),
            q.visits_per_gym(gf),
            q.occupancy(gf),
            q.members_in_gym_now(),
            q.minutes_density(gf, 10),
        ],
        "Operations": [q.pipeline_runs(), q.quarantine_counts(), q.bronze_offsets()],
    }


def query_samples(engine, repeat: int) -> dict[str, dict[str, list[float] | str]]:
    """Per page, per query: `repeat` timed runs in ms after one warm-up, or why the query could not run."""
    from app.engines import DataUnavailable

    out: dict[str, dict[str, list[float] | str]] = {}
    for page, bounds in page_queries(engine).items():
        out[page] = {}
        for bound in bounds:
            try:
                out[page][bound.name] = _time(lambda b=bound: engine.query(b), repeat)
            except DataUnavailable as exc:
                out[page][bound.name] = str(exc)
    return out


def page_totals(samples: dict[str, list[float] | str]) -> list[float]:
    """A whole page's time per run: the sum of its queries' n-th runs (queries that could not run left out)."""
    timed = [v for v in samples.values() if isinstance(v, list)]
    return [sum(run) for run in zip(*timed, strict=True)] if timed else []


def query_report(root: Path, repeat: int) -> bool:
    from app.engines import LocalEngine, local_view_name
    from core.contract import WORKOUT_BPM_SUMMARY
    from core.settings import Settings

    engine = LocalEngine(Settings.from_env({}, lakehouse_dir=root))
    started = time.perf_counter()
    from app import queries as q

    engine.query(q.workout_date_bounds())
    engine.query(q.gym_date_bounds())
    print(f"\nfirst load of gold into the local engine (once per Delta version): "
          f"{(time.perf_counter() - started) * 1000:.0f} ms")  # fmt: skip

    ok = True
    print(f"\nquery latency on the local engine, {repeat} runs each (ms); {_load()}")
    print(f"{'page':<24} {'query':<24} {'p50':>8} {'p95':>8}  target p95 < {QUERY_TARGET_MS:.0f} ms")
    for page, queries in query_samples(engine, repeat).items():
        for name, samples in queries.items():
            if isinstance(samples, str):
                print(f"{page:<24} {name:<24} {'n/a':>8} {'n/a':>8}  {samples}")
                continue
            p95 = _percentile(samples, 95)
            ok &= p95 < QUERY_TARGET_MS
            print(f"{page:<24} {name:<24} {statistics.median(samples):8.1f} {p95:8.1f}  "
                  f"{'ok' if p95 < QUERY_TARGET_MS else 'MISSED'}")  # fmt: skip
        totals = page_totals(queries) or [0.0] * repeat
        print(f"{page:<24} {'= whole page':<24} {statistics.median(totals):8.1f} {_percentile(totals, 95):8.1f}")

    view = local_view_name(WORKOUT_BPM_SUMMARY)
    con = engine._con  # the baseline runs on the very same DuckDB connection and table copy
    full = _time(lambda: con.sql(f"SELECT * FROM {view}").to_arrow_table(), max(5, repeat // 3))
    agg = _time(lambda: con.sql(f"SELECT count(*), avg(avg_bpm), max(max_bpm) FROM {view}").fetchall(), repeat)
    from deltalake import DeltaTable

    dataset = DeltaTable(str(root / "gold" / "workout_bpm_summary")).to_pyarrow_dataset()
    con.register("_bench_dataset", dataset)
    cold = _time(lambda: con.sql("SELECT count(*), avg(avg_bpm), max(max_bpm) FROM _bench_dataset").fetchall(),
                 max(5, repeat // 3))  # fmt: skip
    print("\nbaseline: the same 1M-row table, whole")
    for name, samples in (("full-table scan to Arrow (SELECT *)", full),
                          ("full-table aggregate (no filter)", agg),
                          ("aggregate straight from the Delta files", cold)):  # fmt: skip
        print(f"{'baseline':<24} {name:<40} p50 {statistics.median(samples):8.1f}  p95 {_percentile(samples, 95):8.1f}")
    print(f"({_load()})")
    engine.close()
    return ok


EMPTY_PAGE = """import streamlit as st

st.set_page_config(page_title="Baseline", layout="wide")
st.title("Empty page")
st.caption("Streamlit's own start-up: nothing to query, nothing to draw.")
"""


def _drawn(page) -> None:
    from tests.support.harness import PAGE_DRAWN_JS

    page.wait_for_function(PAGE_DRAWN_JS, timeout=60_000, polling="raf")


def _open(page, url: str) -> float:
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    _drawn(page)
    return time.perf_counter() - started


def _script_finished(frame: bytes | str) -> bool:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    return isinstance(frame, bytes) and ForwardMsg.FromString(frame).WhichOneof("type") == "script_finished"


def _watch(page):
    """Keep the page's latest Streamlit websocket on the page object, for `_refresh`."""
    page.on("websocket", lambda ws: setattr(page, "streamlit_ws", ws))
    return page


def _refresh(page) -> float:
    """Click "Refresh now" (forgets every cached query result) and time the redraw: until the server says that script
    run finished and the page is drawn. (The browser can render a fast run's "running" and "finished" states as one,
    so the page's own running flag is no signal that the run happened.)"""
    started = time.perf_counter()
    with page.streamlit_ws.expect_event("framereceived", predicate=_script_finished, timeout=30_000):
        page.get_by_role("button", name="Refresh now").click()
    _drawn(page)
    return time.perf_counter() - started


TITLE_IS_JS = """t => {
  const h = document.querySelector('[data-testid="stMain"] h1');
  return !!h && h.innerText.trim() === t;
}"""


# Polled on every animation frame of a cold visit: when each step of the draw was first seen, in ms after navigation
# started. Charts are app/plotly_js.py's components, whose containers come before their module has loaded.
MILESTONES = ("app shell", "title", "script run over", "chart containers", "plotly.js asked for", "plotly.js fetched",
              "plotly.js ready", "first chart drawn", "every chart drawn")  # fmt: skip
MILESTONES_JS = """(() => {
  const ms = window.__lhMilestones = {};
  const mark = (name, reached) => { if (reached && !(name in ms)) ms[name] = performance.now(); };
  const tick = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    const title = document.querySelector('[data-testid="stMain"] h1');
    const charts = [...document.querySelectorAll('[data-testid="stMain"] .stBidiComponent')];
    mark('app shell', app);
    mark('title', title);
    mark('script run over', title && app.dataset.testScriptState === 'notRunning');
    mark('chart containers', charts.length);
    const bundle = performance.getEntriesByType('resource').find(e => e.name.includes('/app/static/plotly'));
    if (bundle && !('plotly.js fetched' in ms)) {  // the entry comes when the response is complete: exact times
      ms['plotly.js asked for'] = bundle.startTime;
      ms['plotly.js fetched'] = bundle.responseEnd;
    }
    mark('plotly.js ready', window.Plotly);
    mark('first chart drawn', charts.some(c => c.querySelector('.lh-plotly .main-svg')));
    mark('every chart drawn', charts.length && charts.every(c => c.querySelector('.lh-plotly .main-svg')));
    if (performance.now() < 60000 && !('every chart drawn' in ms)) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})()"""


def _switch(page, title: str) -> float:
    """Click the page's link in the sidebar and time the in-app page change (no reload, Streamlit's own navigation):
    until the server says the script run finished and that page is drawn."""
    started = time.perf_counter()
    with page.streamlit_ws.expect_event("framereceived", predicate=_script_finished, timeout=30_000):
        page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
    page.wait_for_function(TITLE_IS_JS, arg=title, timeout=60_000)
    _drawn(page)
    return time.perf_counter() - started


def _visits(browser, url: str, other: tuple[str, str] | None, visits: int,
            title: str = "") -> tuple[dict[str, list[float]], dict[str, list[float]]]:  # fmt: skip
    """Per visit: cold (a new browser with an empty cache; no query result cached: "Refresh now" clicked on the
    `other` page (url, title) first), warm (the same browser again, results cached), refresh (the "Refresh now"
    button) and switch (to the other page and back through the sidebar's links; the time back is counted). Also the
    cold visits' MILESTONES (s), each where it was seen."""
    out: dict[str, list[float]] = {"cold": [], "warm": [], "refresh": [], "switch": []}
    steps: dict[str, list[float]] = {name: [] for name in MILESTONES}
    for _ in range(visits):
        if other is not None:
            helper_context = browser.new_context()
            try:
                helper = _watch(helper_context.new_page())
                _open(helper, other[0])
                _refresh(helper)
            finally:
                helper_context.close()
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_init_script(MILESTONES_JS)
        try:
            page = _watch(context.new_page())
            out["cold"].append(_open(page, url))
            for name, at_ms in page.evaluate("() => window.__lhMilestones || {}").items():
                steps[name].append(at_ms / 1000)
            out["warm"].append(_open(page, url))
            if other is not None:
                out["refresh"].append(_refresh(page))
                _switch(page, other[1])
                out["switch"].append(_switch(page, title))
        finally:
            context.close()
    return out, steps


EMPTY = "empty Streamlit page"


@dataclass
class PageDraws:
    """What `draw_pages` measured: the server's start with its first page (s), and per page title (the empty page's
    last) the draw times (s) by kind of visit and the cold visits' MILESTONES."""

    server_start: float
    figures: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    steps: dict[str, dict[str, list[float]]] = field(default_factory=dict)


def draw_pages(root: Path, work: Path, visits: int, baseline: bool = True) -> PageDraws:
    """Every page of the dashboard over `root` visited `visits` times in Chromium (see `_visits`); with `baseline`, an
    empty Streamlit page too."""
    from playwright.sync_api import sync_playwright

    from app.navigation import PAGES
    from tests.support.harness import CHROMIUM_ARGS, ensure_chromium, streamlit_server

    env = {
        "LAKEHOUSE_DIR": str(root),
        "LAKEHOUSE_DATA_DIR": str(work / "data"),
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
        "DASHBOARD_REFRESH_SECONDS": "0",
        "DATABRICKS_SERVER_HOSTNAME": "",
    }
    empty = work / "empty_page.py"
    empty.write_text(EMPTY_PAGE)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(ensure_chromium()), args=CHROMIUM_ARGS)
        try:
            started = time.perf_counter()
            with streamlit_server(env, work / "streamlit.log") as url:
                first = browser.new_context().new_page()
                _open(first, url)
                draws = PageDraws(time.perf_counter() - started)
                first.context.close()
                for i, spec in enumerate(PAGES):
                    other = PAGES[(i + 1) % len(PAGES)]
                    draws.figures[spec.title], draws.steps[spec.title] = _visits(
                        browser, f"{url}/{spec.url}", (f"{url}/{other.url}", other.title), visits, spec.title
                    )
            if baseline:
                with streamlit_server({}, work / "streamlit-empty.log", app=empty) as url:
                    _visits(browser, url, None, 1)  # the server's first session pays Streamlit's imports
                    draws.figures[EMPTY], draws.steps[EMPTY] = _visits(browser, url, None, visits)
        finally:
            browser.close()
    return draws


def browser_report(root: Path, work: Path, visits: int) -> bool:
    ok = True
    print(f"\ntime until the page is fully drawn in Chromium (s), median of {visits} visits (max in brackets); "
          f"target < {PAGE_TARGET_S:.0f} s")  # fmt: skip
    print("cold: new browser, no cached query result; warm: the same page again; refresh: the 'Refresh now' button;")
    print("switch: from another page through the sidebar's link (no reload, query results cached)")
    print(f"{'page':<24} {'cold':>14} {'warm':>14} {'refresh':>14} {'switch':>14}")

    def row(name: str, figures: dict[str, list[float]], judged: bool) -> bool:
        cells = [f"{statistics.median(v):6.2f} ({max(v):5.2f})" if v else f"{'–':>14}" for v in figures.values()]
        worst = max(statistics.median(v) for v in figures.values() if v)
        verdict = ("ok" if worst < PAGE_TARGET_S else "MISSED") if judged else "baseline"
        print(f"{name:<24} {' '.join(f'{c:>14}' for c in cells)}  {verdict}")
        return worst < PAGE_TARGET_S or not judged

    draws = draw_pages(root, work, visits)
    print(f"{'server start + 1st page':<24} {draws.server_start:6.2f} s  (imports, first load of gold into DuckDB: "
          "once per server)")  # fmt: skip
    for name, figures in draws.figures.items():
        ok &= row(name, figures, judged=name != EMPTY)
    print(f"({_load()})")
    print("\nwhere a cold visit goes: when each step was first seen, s after navigation started (median)")
    print(f"{'page':<24} " + " ".join(f"{name:>17}" for name in MILESTONES))
    for name, seen in draws.steps.items():
        print(f"{name:<24} " + " ".join(f"{statistics.median(seen[m]):17.2f}" if seen[m] else f"{'–':>17}"
                                        for m in MILESTONES))  # fmt: skip
    return ok


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks dashboard_latency", description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per query")
    parser.add_argument("--dir", type=Path, default=None, help="where the synthetic lakehouse lives (reused)")
    parser.add_argument("--visits", type=int, default=5, help="browser visits per page")
    parser.add_argument("--no-browser", action="store_true", help="query latency only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="dashboard-latency-") as tmp:
        root = ensure_lakehouse(args.dir or Path(tmp) / "lakehouse", args.sessions)
        ok = query_report(root, args.repeat)
        if not args.no_browser:
            ok &= browser_report(root, Path(tmp), args.visits)
    print("\nall targets met" if ok else "\nsome targets missed (see MISSED above)")
    return 0
