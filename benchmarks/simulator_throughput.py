"""Simulator throughput: events per second sustained into Kafka from one process, next to Kafka's own
ProducerPerformance tool at the same record size and producer settings.

    python -m benchmarks simulator_throughput [--members 2000] [--days 1] [--repeat 2] [--compression none,lz4]

Uses the cluster in KAFKA_BOOTSTRAP_SERVERS if set, else starts a throwaway local broker on free ports.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import mean

from benchmarks.kafka import benchmark_kafka
from core.connections import confluent_kafka_config, spark_kafka_options
from core.kafka_broker import create_topics, ensure_kafka_jars, java_executable
from core.settings import Settings
from simulator.behaviour import DAY_SECONDS, day_of
from simulator.config import SimulatorConfig
from simulator.engine import Simulation, run_history
from simulator.kafka_sink import PRODUCER_TUNING
from simulator.source_db import SCHEMA

TARGET_RATE = 200_000
TARGET_SHARE = 0.5
END = 1_764_000_000.0  # a fixed end of history, so every run generates the same records
_PERF_LINE = re.compile(r"(\d+) records sent, ([\d.]+) records/sec")


def average_value_size(config: SimulatorConfig) -> int:
    """Mean value size in bytes of one simulated day's records (what ProducerPerformance should send)."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    sim = Simulation(config, conn, END - DAY_SECONDS)
    records, _ = sim.plan_day(day_of(END - DAY_SECONDS))
    sizes = [len(value) for lanes in records for lane in lanes for value in lane.values]
    return round(mean(sizes))


def simulator_rate(settings: Settings, config: SimulatorConfig, days: float, workdir: Path,
                   tuning: dict[str, object]) -> tuple[int, float, float, float]:  # fmt: skip
    """(records, wall seconds, CPU seconds of this process, CPU seconds of its main thread) of one `history` run,
    from the first record generated to the last one acknowledged."""
    run_settings = replace(settings, kafka_topic_prefix=f"bench{uuid.uuid4().hex[:6]}.",
                           source_db_url=str(workdir / f"source-{uuid.uuid4().hex[:6]}.db"))  # fmt: skip
    create_topics(run_settings.kafka_bootstrap_servers, list(run_settings.topics.values()),
                  client_config=confluent_kafka_config(run_settings))  # fmt: skip
    began, cpu, main = time.perf_counter(), time.process_time(), time.thread_time()
    stats = run_history(run_settings, config, days=days, end=END, progress=False, tuning=tuning)
    return stats.total, time.perf_counter() - began, time.process_time() - cpu, time.thread_time() - main


def kafka_perf_rate(settings: Settings, records: int, record_size: int,
                    tuning: dict[str, object]) -> tuple[float, float]:  # fmt: skip
    """(records per second, CPU seconds of its JVM, start-up included) of Kafka's ProducerPerformance with the
    simulator's producer settings."""
    topic = f"bench{uuid.uuid4().hex[:6]}.perf"
    create_topics(settings.kafka_bootstrap_servers, [topic], client_config=confluent_kafka_config(settings))
    props = {"bootstrap.servers": settings.kafka_bootstrap_servers, "acks": "all", "enable.idempotence": "true",
             "linger.ms": tuning["linger.ms"], "batch.size": tuning["batch.size"],
             "compression.type": tuning["compression.type"], "buffer.memory": 256 * 1024 * 1024}  # fmt: skip
    props.update({k.removeprefix("kafka."): v for k, v in spark_kafka_options(settings).items()})  # SASL/SSL
    lib = ensure_kafka_jars(settings.cache_dir)
    cmd = [java_executable(), "-Xmx1g", "-cp", f"{lib}/*", "org.apache.kafka.tools.ProducerPerformance",
           "--topic", topic, "--num-records", str(records), "--record-size", str(record_size), "--throughput", "-1",
           "--producer-props", *(f"{k}={v}" for k, v in props.items())]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    match = None
    for line in out.stdout.splitlines():
        match = _PERF_LINE.search(line) or match
    if out.returncode != 0 or match is None:
        raise RuntimeError(f"ProducerPerformance failed: {(out.stderr or out.stdout).strip()[-400:]}")
    return float(match.group(2)), cpu


@dataclass
class Runs:
    """Each run's records per wall second, per CPU second of the producing process and of its main thread (the
    simulator's one Python thread), and the 1-minute load average before and after it."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    main: list[float] = field(default_factory=list)
    load: list[tuple[float, float]] = field(default_factory=list)

    def describe(self) -> str:
        return ", ".join(f"{r:,.0f} (load {a:.1f}-{b:.1f})" for r, (a, b) in zip(self.wall, self.load, strict=True))


def measure(settings: Settings, config: SimulatorConfig, days: float, repeat: int, compressions: list[str],
            workdir: Path) -> tuple[int, int, dict[str, tuple[Runs, Runs]]]:  # fmt: skip
    """(records per run, record size, {compression: (simulator runs, Kafka runs)}), alternating the two tools."""
    size = average_value_size(config)
    simulator_rate(settings, replace(config, members=max(10, config.members // 20)), 0.25, workdir, PRODUCER_TUNING)
    results = {c: (Runs(), Runs()) for c in compressions}
    records = 0
    for _ in range(repeat):
        for compression in compressions:
            tuning = {**PRODUCER_TUNING, "compression.type": compression}
            sim, perf = results[compression]
            load = os.getloadavg()[0]
            records, seconds, cpu, main = simulator_rate(settings, config, days, workdir, tuning)
            sim.wall.append(records / seconds)
            sim.cpu.append(records / cpu)
            sim.main.append(records / main)
            sim.load.append((load, load := os.getloadavg()[0]))
            rate, cpu = kafka_perf_rate(settings, records, size, tuning)
            perf.wall.append(rate)
            perf.cpu.append(records / cpu)
            perf.load.append((load, os.getloadavg()[0]))
    return records, size, results


def report(args: argparse.Namespace, records: int, size: int,
           results: dict[str, tuple[Runs, Runs]]) -> tuple[list[str], bool]:  # fmt: skip
    """The printed table (best run of each) and whether the default settings met both targets."""
    tuning = ", ".join(f"{k}={PRODUCER_TUNING[k]}" for k in ("linger.ms", "batch.size"))
    lines = [
        f"simulator throughput: {args.members} members x {args.days:g} days = {records:,} records of ~{size} bytes "
        f"per run; acks=all, idempotent, {tuning}; best of {args.repeat}; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores",
        f"{'compression':<12}{'simulator/s':>13}{'Kafka perf/s':>14}{'ratio':>7}{'sim/CPU-s':>12}{'Kafka/CPU-s':>13}"
        f"{'sim/thread-CPU-s':>18}   runs/s (simulator | Kafka)",
    ]  # fmt: skip
    for compression, (sim, perf) in results.items():
        best_sim, best_perf = max(sim.wall), max(perf.wall)
        lines.append(f"{compression:<12}{best_sim:>13,.0f}{best_perf:>14,.0f}{best_sim / best_perf:>7.0%}"
                     f"{max(sim.cpu):>12,.0f}{max(perf.cpu):>13,.0f}{max(sim.main):>18,.0f}   "
                     f"{sim.describe()} | {perf.describe()}")  # fmt: skip
    lines.append("(/CPU-s: records per CPU second of the producing process, all its threads; Kafka's includes JVM "
                 "start-up; the broker's CPU is in neither. /thread-CPU-s: per CPU second of the simulator's one "
                 "Python thread, the rate it could sustain with a core to itself)")  # fmt: skip
    sim, perf = results.get(str(PRODUCER_TUNING["compression.type"])) or next(iter(results.values()))
    rate_ok, share_ok = max(sim.wall) >= TARGET_RATE, max(sim.wall) / max(perf.wall) >= TARGET_SHARE
    lines.append(f"targets (default settings): >= {TARGET_RATE:,} records/s: {'met' if rate_ok else 'NOT met'}; "
                 f">= {TARGET_SHARE:.0%} of Kafka's figure: {'met' if share_ok else 'NOT met'}")  # fmt: skip
    return lines, rate_ok and share_ok


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks simulator_throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=2, help="alternate the measurements this many times")
    parser.add_argument("--compression", default="none,lz4", help="comma-separated compression types to compare")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = Settings.from_env()
    config = SimulatorConfig(members=args.members, seed=1)
    with tempfile.TemporaryDirectory(prefix="simbench-") as tmp:
        workdir = Path(tmp)
        with benchmark_kafka(settings, workdir) as settings:
            records, size, results = measure(settings, config, args.days, args.repeat,
                                             args.compression.split(","), workdir)  # fmt: skip
    lines, _ = report(args, records, size, results)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
