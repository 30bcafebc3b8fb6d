"""Soak: weeks of operation compressed into an hour. The live simulator runs at an accelerated speed (so many
simulated days in so many minutes), the stream pipeline runs with its scheduled maintenance
(`LAKEHOUSE_MAINTENANCE_INTERVAL`), and once a minute a probe runs each dashboard page's queries on one long-lived
local engine and samples files per table, disk per layer and the processes' memory. Per window (5 min) it prints the
stream's round time, freshness p95, dashboard query p95, files, disk and memory, then a verdict on the trend.

    python -m benchmarks soak [--simulated-days 30] [--minutes 60] [--members 100] [--window-minutes 5]
                              [--warmup-minutes 5] [--maintenance-seconds 300] [--keep DIR]

Freshness: from a workout's stop record being produced (the simulator's clock mapped back to the wall clock; up to
about a second of uncertainty, its start time is kept to the second) to its row being read from gold (polled every
few seconds). Disk growth per simulated day is given for all files and for the live data (the files of the tables'
current versions; the rest are superseded files VACUUM keeps for its retention). Each probe also runs the same
queries on a copy of the tables frozen at the first probe that could query them: the pipeline slows both alike, so
their ratio shows what the tables' growth costs apart from what else the two cores are doing. Targets: after warm-up,
the last window's freshness p95, dashboard query p95 (as measured, and over the frozen copy's) and both disk growths
per simulated day within 1.2x of the first window's; every gold table at most 100 files after a maintenance run.
`--minutes 6 --window-minutes 1 --warmup-minutes 1 --maintenance-seconds 90` is a quick check.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.soak_report import (
    Probe,
    Soak,
    report_lines,
    result_line,
    slowest_queries,
    verdict_lines,
    verdicts,
    windows,
)

log = logging.getLogger(__name__)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--simulated-days", type=float, default=30.0, help="simulated days over the whole run")
    parser.add_argument("--minutes", type=float, default=60.0, help="wall-clock length of the run")
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--window-minutes", type=float, default=5.0)
    parser.add_argument("--warmup-minutes", type=float, default=5.0, help="windows starting before this are not judged")
    parser.add_argument("--maintenance-seconds", type=float, default=300.0, help="LAKEHOUSE_MAINTENANCE_INTERVAL")
    parser.add_argument("--probe-seconds", type=float, default=60.0, help="dashboard and resource probe period")
    parser.add_argument("--poll-seconds", type=float, default=3.0, help="how often gold is read for freshness")
    parser.add_argument("--interval", type=float, default=2.0, help="the stream's seconds between rounds")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (default: a temp dir)")
    args = parser.parse_args(argv)
    for name in ("simulated_days", "minutes", "members", "window_minutes", "probe_seconds", "poll_seconds",
                 "interval", "maintenance_seconds"):  # fmt: skip
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.warmup_minutes < 0:
        parser.error("--warmup-minutes must not be negative")
    return args


def speed_of(simulated_days: float, minutes: float) -> float:
    """Simulated seconds per wall-clock second."""
    return simulated_days * 86400 / (minutes * 60)


class GoldSessions:
    """Reads gold.workout_bpm_summary's keys and end times with deltalake; each new session's freshness is the time
    since the simulator produced its stop record (its end_time mapped to the wall clock)."""

    def __init__(self, settings, sim_started: float, speed: float) -> None:
        self.settings, self.sim_started, self.speed = settings, sim_started, speed
        self.table = None
        self.seen: set[tuple] = set()
        self.freshness: list[tuple[float, float]] = []

    def poll(self) -> None:
        from benchmarks.freshness.probe import delta_table

        if self.table is None:
            self.table = delta_table(self.settings, "gold", "workout_bpm_summary")
            if self.table is None:
                return
        else:
            self.table.update_incremental()
        rows = self.table.to_pyarrow_table(columns=["user_id", "workout_id", "session_id", "end_time"]).to_pylist()
        now = time.time()
        for r in rows:
            key = (r["user_id"], r["workout_id"], r["session_id"])
            if key in self.seen:
                continue
            self.seen.add(key)
            end = r["end_time"] if r["end_time"].tzinfo else r["end_time"].replace(tzinfo=UTC)
            produced = self.sim_started + (end.timestamp() - self.sim_started) / self.speed
            if produced >= self.sim_started:  # sessions of the simulator's first plan that ended before it started
                self.freshness.append((now, now - produced))


def _page_query_ms(engine) -> tuple[list[str], list[float]]:
    """Each page's queries once on `engine`: their names and times (ms)."""
    from benchmarks.dashboard_latency import page_queries

    names: list[str] = []
    times: list[float] = []
    for page, bounds in page_queries(engine).items():
        for bound in bounds:
            began = time.perf_counter()
            engine.query(bound)
            times.append((time.perf_counter() - began) * 1000)
            names.append(f"{page}: {bound.name}")
    return names, times


def freeze(settings, engine, dest: Path):
    """A copy of the current version of every table the dashboard's pages read on `engine`, written under dest with
    deltalake (a consistent snapshot while the pipeline writes); the settings that read it."""
    from deltalake import write_deltalake

    from benchmarks.dashboard_latency import page_queries
    from benchmarks.freshness.probe import delta_table

    frozen = replace(settings, lakehouse_dir=dest / "lakehouse", data_dir=dest / "data")
    tables = {t for bounds in page_queries(engine).values() for b in bounds for t in b.tables}
    for table in tables:
        source = delta_table(settings, table.layer, table.name)
        if source is not None:
            write_deltalake(str(frozen.table_path(table.layer, table.name)), source.to_pyarrow_table(),
                            partition_by=list(table.partition_by) or None)  # fmt: skip
    return frozen


def probe(engine, settings, sim_at: float, pids: dict[str, int], reference=None) -> Probe:
    """Each page's queries once on the local engine (ms), and on `reference` (a frozen copy's engine) when given;
    files per table, disk per layer, memory per process."""
    from app.engines import DataUnavailable
    from benchmarks.resources import layer_usage, rss_bytes, tree_rss

    at = time.time()
    names: list[str] = []
    times: list[float] = []
    reference_ms: list[float] = []
    try:
        names, times = _page_query_ms(engine)
        if reference is not None:
            reference_ms = _page_query_ms(reference)[1]
    except (DataUnavailable, TypeError, IndexError) as exc:  # gold not there or still empty (bounds are None)
        log.info("dashboard probe skipped: %s", exc)
    usage = layer_usage(settings.lakehouse_dir)
    files = {f"{layer}.{t}": n for layer, u in usage.items() for t, n in u.tables.items()}
    memory = {"pipeline": tree_rss(pids["pipeline"]), "simulator": rss_bytes(pids["simulator"]),
              "soak (dashboard engine)": rss_bytes(os.getpid())}  # fmt: skip
    live = {k: u.live_bytes for k, u in usage.items() if k != "_checkpoints"}
    return Probe(at, sim_at, times, files, {k: u.bytes for k, u in usage.items()}, memory, live, reference_ms, names)


def start_pipeline(settings, args: argparse.Namespace, log_file: Path) -> subprocess.Popen:
    from simulator.control import PROJECT_ROOT, child_env

    env = {**child_env(settings), "LAKEHOUSE_MAINTENANCE_INTERVAL": f"{args.maintenance_seconds:g}"}
    with log_file.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--mode", "stream", "--interval",
                                 f"{args.interval:g}"], cwd=PROJECT_ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip


def stop_pipeline(proc: subprocess.Popen, timeout: float = 150.0) -> None:
    """SIGTERM (the pipeline ends its stage and stops Spark), then SIGKILL to it and its JVM after `timeout`."""
    from benchmarks.resources import children

    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in children(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait(timeout=30)


def recorded_runs(settings, since: float) -> tuple[list[tuple[float, float]], list[float]]:
    """(round starts with their length, maintenance finish times) from ops.pipeline_runs."""
    from benchmarks.freshness.probe import stream_stage_runs

    runs = stream_stage_runs(settings, since)
    silver = [r["start"] for r in runs if r["stage"] == "silver"]
    rounds = [(a, b - a) for a, b in zip(silver, silver[1:], strict=False)]
    maintained = [r["finished_at"].replace(tzinfo=UTC).timestamp() for r in runs if r["stage"] == "maintain"]
    return rounds, maintained


def simulator_clock(settings, timeout: float = 120.0) -> tuple[float, int]:
    """(when the live simulator's clock started, its pid), once it reports running."""
    from core.service import wait_until
    from simulator import control

    state = wait_until(lambda: (s := control.status(settings)).get("started_at") and s, timeout,
                       "the live simulator to report its start", interval=0.5)  # fmt: skip
    return datetime.fromisoformat(str(state["started_at"])).timestamp(), int(state["pid"])


def run(args: argparse.Namespace, settings, workdir: Path) -> Soak:
    from app.engines import LocalEngine
    from core.connections import confluent_kafka_config
    from core.kafka_broker import create_topics, topic_config
    from core.service import wait_until
    from simulator import control
    from simulator.config import SimulatorConfig

    settings = replace(settings, kafka_topic_prefix=f"soak{uuid.uuid4().hex[:6]}.",
                       source_db_url=str(workdir / "source.db"), lakehouse_dir=workdir / "lakehouse",
                       data_dir=workdir / "data", checkpoint_dir=None, catalog=None)  # fmt: skip
    # as the project creates them: a retention window in the settings applies to the soak's topics too
    create_topics(settings.kafka_bootstrap_servers, list(settings.topics.values()),
                  client_config=confluent_kafka_config(settings), config=topic_config(settings))  # fmt: skip
    speed = speed_of(args.simulated_days, args.minutes)
    control.start(settings, SimulatorConfig(members=args.members, seed=args.seed), speed=speed)
    pipeline = None
    engine = LocalEngine(settings)
    reference = None  # the engine over a frozen copy of the tables the pages read (`freeze`)
    try:
        sim_started, sim_pid = simulator_clock(settings)
        pipeline = start_pipeline(settings, args, workdir / "pipeline.log")
        log.info("simulator at %gx (%g simulated days in %g min), pipeline pid %d; waiting for gold", speed,
                 args.simulated_days, args.minutes, pipeline.pid)  # fmt: skip
        gold = GoldSessions(settings, sim_started, speed)
        exited = f"the pipeline exited (see {workdir / 'pipeline.log'})"
        # the windows start with the first session in gold: the pipeline's start-up is not part of the trend
        wait_until(lambda: gold.poll() or gold.seen, 900, "a first session in gold.workout_bpm_summary", interval=2.0,
                   abort=lambda: pipeline.poll() is not None and exited)  # fmt: skip
        t0 = time.time()
        end = t0 + args.minutes * 60
        pids = {"pipeline": pipeline.pid, "simulator": sim_pid}
        probes: list[Probe] = []
        next_probe = t0
        while (now := time.time()) < end:
            if pipeline.poll() is not None:
                raise RuntimeError(f"the pipeline exited with {pipeline.returncode}; see {workdir / 'pipeline.log'}")
            gold.poll()
            if now >= next_probe:
                if reference is None and probes and probes[-1].query_ms:  # gold can be queried: freeze a copy
                    reference = LocalEngine(freeze(settings, engine, workdir / "frozen"))
                probes.append(probe(engine, settings, sim_started + (now - sim_started) * speed, pids, reference))
                log.info("probe %d: %d sessions in gold, %d queries", len(probes), len(gold.seen),
                         len(probes[-1].query_ms))  # fmt: skip
                next_probe += args.probe_seconds
            time.sleep(max(0.0, min(args.poll_seconds, next_probe - time.time())))  # the probe cadence
        probes.append(probe(engine, settings, sim_started + (time.time() - sim_started) * speed, pids, reference))
    finally:
        engine.close()
        if reference is not None:
            reference.close()
        control.stop(settings, timeout=60)
        if pipeline is not None:
            stop_pipeline(pipeline)
    rounds, maintained = recorded_runs(settings, t0)
    return Soak(t0, end, args.window_minutes * 60, args.warmup_minutes * 60, probes, gold.freshness, rounds,
                maintained)  # fmt: skip


def main(argv: list[str]) -> int:
    from benchmarks.kafka import benchmark_kafka
    from benchmarks.pipeline_batch import code_version, uptime
    from core.settings import Settings

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("py4j", "simulator", "app"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    loads = [code_version(), f"uptime at start: {uptime()}"]
    try:
        with benchmark_kafka(Settings.from_env(), workdir) as settings:
            soak = run(args, settings, workdir)
        loads.append(f"uptime at the end: {uptime()}")
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    ws = windows(soak)
    print(f"soak: {args.simulated_days:g} simulated days in {args.minutes:g} min "
          f"({speed_of(args.simulated_days, args.minutes):.0f}x), {args.members} members, maintenance every "
          f"{args.maintenance_seconds:g} s ({len(soak.maintenance)} runs), {len(soak.probes)} probes, "
          f"{len(soak.freshness)} sessions seen in gold")  # fmt: skip
    print("\n".join(report_lines(soak, ws) + slowest_queries(soak, ws) + verdict_lines(verdicts(soak, ws)) + loads))
    print(result_line(soak, ws))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
