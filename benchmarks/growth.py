"""Growth: how the batch pipeline and the dashboard scale with the data. Batch runs at several sizes (default 1M, 3M
and 10M Kafka events) report time per event, the Spark driver's peak memory (its JVM's resident memory and heap, and
this Python process) and files and bytes per layer; the dashboard's local engine over synthetic gold layers of
several sizes (default 1M and 10M sessions) reports query p95 per page and the cold page draw in Chromium. Every
figure stands beside the smallest size's, measured in the same run.

    python -m benchmarks growth [--sizes 1000000,3000000,10000000] [--sessions 1000000,10000000] [--days 2]
                                [--repeat 20] [--visits 3] [--no-browser] [--no-batch] [--no-dashboard] [--keep DIR]

Targets: batch time per event at the largest size within 1.3x of the smallest; at the largest gold, every query's
p95 under 100 ms and every page drawn cold in under 2 s. Uses the Kafka in KAFKA_BOOTSTRAP_SERVERS if set, else a
throwaway local broker (as pipeline_batch). Ends with a RESULT line.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.resources import LayerUsage, mib

log = logging.getLogger(__name__)

BATCH_RATIO_TARGET = 1.3
QUERY_TARGET_MS = 100.0
PAGE_TARGET_S = 2.0


# --- pure parts ---------------------------------------------------------------------------------------------------


def parse_sizes(text: str, least: int = 1) -> list[int]:
    """`"1000000,3e6,10M"` -> [1000000, 3000000, 10000000], ascending, each at least `least`."""
    sizes = []
    for part in (p.strip().lower() for p in text.split(",") if p.strip()):
        scale = 1_000_000 if part.endswith("m") else 1_000 if part.endswith("k") else 1
        try:
            value = int(float(part.rstrip("mk")) * scale)
        except ValueError:
            raise ValueError(f"{part!r} is not a size, e.g. 1000000, 3M or 500k") from None
        if value < least:
            raise ValueError(f"{part!r}: each size must be at least {least:,}")
        sizes.append(value)
    if not sizes:
        raise ValueError("give at least one size")
    return sorted(set(sizes))


@dataclass
class BatchFigures:
    events: int
    seconds: float
    jvm_rss: int  # peak resident memory of the Spark driver's JVM during the run
    jvm_heap: int  # its heap pools' peak use during the run
    python_rss: int  # peak resident memory of this process (the PySpark driver) during the run
    layers: dict[str, LayerUsage] = field(default_factory=dict)

    @property
    def us_per_event(self) -> float:
        return self.seconds / self.events * 1e6


@dataclass
class DashboardFigures:
    sessions: int
    first_load_s: float  # the engine's first load of gold
    query_p95_ms: dict[str, float]  # per query (page: query), p95
    page_p95_ms: dict[str, float]  # per page, the whole page's p95
    cold_page_s: dict[str, float] = field(default_factory=dict)  # per page, median cold draw in Chromium
    python_rss: int = 0  # this process after the queries (the engine's DuckDB included)


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "n/a"


def batch_lines(rows: list[BatchFigures]) -> list[str]:
    base = rows[0]
    lines = [f"batch bronze -> gold, baseline: the smallest size ({base.events:,} events) in this run",
             f"{'events':>12} {'seconds':>9} {'us/event':>9} {'vs base':>8} {'JVM RSS':>10} {'JVM heap':>10} "
             f"{'Python':>9}"]  # fmt: skip
    for r in rows:
        vs = ratio(r.us_per_event, base.us_per_event)
        lines.append(f"{r.events:>12,} {r.seconds:>9.1f} {r.us_per_event:>9.1f} {vs:>8} {mib(r.jvm_rss):>10} "
                     f"{mib(r.jvm_heap):>10} {mib(r.python_rss):>9}")  # fmt: skip
    lines.append("files (data files in the current versions / Parquet files / all files) and bytes per layer:")
    for r in rows:
        cells = [f"{layer} {u.live_files}/{u.data_files}/{u.files} {mib(u.bytes)}" for layer, u in r.layers.items()]
        lines.append(f"{r.events:>12,}  " + "; ".join(cells))
    return lines


def dashboard_lines(rows: list[DashboardFigures]) -> list[str]:
    base = rows[0]
    lines = [
        f"dashboard on the local engine, baseline: the smallest gold ({base.sessions:,} sessions) in this run",
        f"{'sessions':>12} {'first load':>11} {'worst query p95':>16} {'vs base':>8} {'Python RSS':>11}",
    ]
    for r in rows:
        worst = max(r.query_p95_ms.values())
        vs = ratio(worst, max(base.query_p95_ms.values()))
        lines.append(f"{r.sessions:>12,} {r.first_load_s:>10.1f}s {worst:>13.1f} ms {vs:>8} {mib(r.python_rss):>11}")
    for page in base.page_p95_ms:
        cells = [f"{r.page_p95_ms.get(page, float('nan')):.1f} ms" for r in rows]
        lines.append(f"  whole page p95, {page:<24} " + "  ".join(f"{c:>10}" for c in cells))
    top = rows[-1]
    for name in sorted(top.query_p95_ms, key=top.query_p95_ms.get, reverse=True)[:5]:
        cells = [f"{r.query_p95_ms.get(name, float('nan')):.1f} ms" for r in rows]
        lines.append(f"  query p95, {name:<34} " + "  ".join(f"{c:>10}" for c in cells))
    for page in base.cold_page_s:
        cells = [f"{r.cold_page_s.get(page, float('nan')):.2f} s" for r in rows]
        lines.append(f"  cold draw (median), {page:<20} " + "  ".join(f"{c:>10}" for c in cells))
    return lines


def verdicts(batch: list[BatchFigures], dash: list[DashboardFigures]) -> list[tuple[str, bool]]:
    """(what, met) for each target the run can judge."""
    out = []
    if len(batch) > 1:
        r = batch[-1].us_per_event / batch[0].us_per_event
        out.append((f"batch time per event at {batch[-1].events:,} is {r:.2f}x that at {batch[0].events:,} "
                    f"(target <= {BATCH_RATIO_TARGET}x)", r <= BATCH_RATIO_TARGET))  # fmt: skip
    if dash:
        top = dash[-1]
        worst = max(top.query_p95_ms, key=top.query_p95_ms.get)
        out.append((f"worst query p95 at {top.sessions:,} sessions: {worst} {top.query_p95_ms[worst]:.1f} ms "
                    f"(target < {QUERY_TARGET_MS:.0f} ms)", top.query_p95_ms[worst] < QUERY_TARGET_MS))  # fmt: skip
        if top.cold_page_s:
            page = max(top.cold_page_s, key=top.cold_page_s.get)
            out.append((f"slowest cold page at {top.sessions:,} sessions: {page} {top.cold_page_s[page]:.2f} s "
                        f"(target < {PAGE_TARGET_S:.0f} s)", top.cold_page_s[page] < PAGE_TARGET_S))  # fmt: skip
    return out


def result_line(batch: list[BatchFigures], dash: list[DashboardFigures]) -> str:
    figures: dict[str, float] = {}
    for r in batch:
        figures[f"batch_at_{r.events}_per_1m_events_s"] = r.us_per_event
        figures[f"jvm_rss_at_{r.events}_mib"] = r.jvm_rss / 1024 / 1024
    for d in dash:
        figures[f"query_p95_at_{d.sessions}_s"] = max(d.query_p95_ms.values()) / 1000
        if d.cold_page_s:
            figures[f"cold_page_at_{d.sessions}_s"] = max(d.cold_page_s.values())
    return "RESULT " + " ".join(f"{k}={v:.4f}" for k, v in figures.items())


# --- measurements ---------------------------------------------------------------------------------------------------


def run_batches(args: argparse.Namespace, settings, workdir: Path) -> list[BatchFigures]:
    """One JVM for every size (after an untimed warm-up), smallest first; each size's data is deleted after it."""
    from benchmarks import pipeline_batch as pb
    from benchmarks.resources import PeakSampler, heap_peak_bytes, layer_usage, reset_heap_peaks, spark_jvm
    from core.spark import get_spark

    per_member_day = pb.records_per_member_day(args.seed)
    warm = pb.run_settings(settings, workdir, "warmup")
    pb.generate(warm, *pb.history_size(args.warmup_events, per_member_day, None, 1.0), args.seed + 1)
    spark = get_spark(warm, app_name="benchmark-growth")
    rows = []
    try:
        jvm = spark_jvm(os.getpid())
        pb.timed_batch(spark, warm)
        for size in args.sizes:
            s = pb.run_settings(settings, workdir, f"n{size}")
            members, days = pb.history_size(size, per_member_day, None, args.days)
            counts = pb.generate(s, members, days, args.seed)
            events = sum(counts.get(k, 0) for k in ("bpm", "workout", "gym"))
            log.info("timed run_batch over %d events (%d members x %g days); %s", events, members, days, pb.uptime())
            reset_heap_peaks(spark)
            with PeakSampler({"jvm": jvm or 0, "python": os.getpid()}) as memory:
                _, seconds, _ = pb.timed_batch(spark, s)
            rows.append(BatchFigures(events, seconds, memory.peaks["jvm"], heap_peak_bytes(spark),
                                     memory.peaks["python"], layer_usage(s.lakehouse_dir)))  # fmt: skip
            log.info("%d events in %.1f s: %.1f us/event, JVM peak %s", events, seconds, rows[-1].us_per_event,
                     mib(rows[-1].jvm_rss))  # fmt: skip
            if args.keep is None:
                shutil.rmtree(workdir / f"n{size}", ignore_errors=True)
    finally:
        spark.stop()
    return rows


def run_dashboard(args: argparse.Namespace, workdir: Path) -> list[DashboardFigures]:
    from app import queries as q
    from app.engines import LocalEngine
    from benchmarks.dashboard_latency import draw_pages, ensure_lakehouse, page_totals, query_samples
    from benchmarks.freshness.report import percentile
    from benchmarks.resources import rss_bytes
    from core.settings import Settings

    rows = []
    for n in args.sessions:
        root = ensure_lakehouse(workdir / f"gold-{n}", n)
        engine = LocalEngine(Settings.from_env({}, lakehouse_dir=root))
        try:
            began = time.perf_counter()
            engine.query(q.workout_date_bounds())
            engine.query(q.gym_date_bounds())
            first = time.perf_counter() - began
            samples = query_samples(engine, args.repeat)
            rss = rss_bytes(os.getpid())
        finally:
            engine.close()
        per_query = {f"{page}: {name}": percentile(s, 95) for page, qs in samples.items() for name, s in qs.items()
                     if isinstance(s, list)}  # fmt: skip
        pages = {page: percentile(page_totals(qs), 95) for page, qs in samples.items() if page_totals(qs)}
        cold = {}
        if not args.no_browser:
            web = workdir / f"web-{n}"
            web.mkdir(exist_ok=True)
            draws = draw_pages(root, web, args.visits, baseline=False)
            cold = {page: statistics.median(f["cold"]) for page, f in draws.figures.items()}
        rows.append(DashboardFigures(n, first, per_query, pages, cold, rss))
        log.info("dashboard at %d sessions: worst query p95 %.1f ms", n, max(per_query.values()))
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return rows


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks growth", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--sizes", default="1000000,3000000,10000000", help="Kafka events per batch run")
    parser.add_argument("--sessions", default="1000000,10000000", help="workout sessions in the synthetic gold")
    parser.add_argument("--days", type=float, default=2.0, help="days of history per batch run (members follow)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--warmup-events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per dashboard query")
    parser.add_argument("--visits", type=int, default=3, help="cold browser visits per page")
    parser.add_argument("--no-browser", action="store_true", help="dashboard queries only")
    parser.add_argument("--no-batch", action="store_true")
    parser.add_argument("--no-dashboard", action="store_true")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (default: a temp dir)")
    args = parser.parse_args(argv)
    try:
        args.sizes = parse_sizes(args.sizes, least=1000)
        args.sessions = parse_sizes(args.sessions, least=100)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def main(argv: list[str]) -> int:
    from benchmarks.kafka import benchmark_kafka
    from benchmarks.pipeline_batch import code_version, uptime
    from core.settings import Settings

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("py4j", "simulator", "pipeline", "app"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="growth-"))
    workdir.mkdir(parents=True, exist_ok=True)
    loads = [code_version(), f"uptime at start: {uptime()}"]
    batch: list[BatchFigures] = []
    dash: list[DashboardFigures] = []
    try:
        if not args.no_batch:
            with benchmark_kafka(Settings.from_env(), workdir) as settings:
                batch = run_batches(args, settings, workdir)
            loads.append(f"uptime after the batch runs: {uptime()}")
        if not args.no_dashboard:
            dash = run_dashboard(args, workdir)
            loads.append(f"uptime after the dashboard: {uptime()}")
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    lines = (batch_lines(batch) + [""] if batch else []) + (dashboard_lines(dash) + [""] if dash else [])
    judged = verdicts(batch, dash)
    lines += [f"{'met' if ok else 'MISSED'}: {what}" for what, ok in judged] + loads
    print("\n".join(lines))
    print(result_line(batch, dash))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
