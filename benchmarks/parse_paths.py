"""Parse paths side by side: `checked(topic)` over simulated Kafka values in the simulator's compact encoding and in a
generic one (`json.dumps`, fields shuffled among extra members), beside the parse code it replaced, measured in the
same run.

    python -m benchmarks parse_paths [--events 1000000] [--reps 5] [--mix simulator|even] [--baseline REV]

Each figure is `df.transform(checked(topic)).write.format("noop")` over a parquet file of each topic's values, summed
over the three topics: the minimum and the median of --reps runs, the paths taking turns. The baseline is the
previous code (the compact encoding matched by a regular expression, VARIANT for anything else) read from git at
--baseline, on the compact encoding. Before timing, every path runs once untimed and must reject no value; the one
path must give the previous code's typed rows, and the same rows for both encodings.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from benchmarks.pipeline_batch import END, code_version, uptime
from core.contract import ACTIONS, TOPICS
from core.settings import Settings

log = logging.getLogger(__name__)

BASELINE_REV = "e7009e8"  # the last commit of pipeline/parsing.py with the compact fast path
ENCODINGS = ("compact", "generic")
Checked = Callable[[str], Callable[[DataFrame], DataFrame]]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks parse_paths", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--events", type=int, default=1_000_000, help="values per encoding, all topics together")
    parser.add_argument("--reps", type=int, default=5, help="timed runs of each path and encoding")
    parser.add_argument("--mix", choices=("simulator", "even"), default="simulator",
                        help="topic shares as the simulator produces them, or a third each")  # fmt: skip
    parser.add_argument("--baseline", default=BASELINE_REV, help="git revision of the previous parse code")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.events < 3000:
        parser.error(f"--events must be at least 3000, got {args.events}")
    if args.reps < 1:
        parser.error(f"--reps must be positive, got {args.reps}")
    return args


# --- the values -------------------------------------------------------------------------------------------------


def simulated_values(events: int, mix: str, seed: int) -> dict[str, list[bytes]]:
    """About `events` compact record values of a simulated population (planned in memory, nothing sent), per topic:
    in the simulator's shares, or a third each (a topic's values repeated as needed)."""
    from simulator.behaviour import DAY_SECONDS, day_of
    from simulator.config import SimulatorConfig
    from simulator.engine import Simulation
    from simulator.source_db import SCHEMA

    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    start = END - 30 * DAY_SECONDS
    sim = Simulation(SimulatorConfig(members=1000, seed=seed), conn, start)
    values: dict[str, list[bytes]] = {topic: [] for topic in TOPICS}
    day = day_of(start)
    while sum(map(len, values.values())) < events or (mix == "even" and not all(values.values())):
        records, _ = sim.plan_day(day)
        for topic, lanes in zip(TOPICS, records, strict=True):
            values[topic] += [v for lane in lanes for v in lane.values]
        day += timedelta(days=1)
    total = sum(map(len, values.values()))
    wanted = {t: events // 3 if mix == "even" else round(len(v) * events / total) for t, v in values.items()}
    return {t: (v * math.ceil(wanted[t] / len(v)))[: wanted[t]] for t, v in values.items()}


def generic(values: dict[str, list[bytes]], seed: int) -> dict[str, list[bytes]]:
    """The same records as the simulator's generic encoding writes them."""
    from simulator.records import generic_value

    rng = random.Random(seed)
    return {t: [generic_value(TOPICS.index(t), v, rng) for v in vs] for t, vs in values.items()}


def write_parquet(values: list[bytes], path: Path, cores: int) -> None:
    """One parquet file in enough row groups for every core to read a part."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"value": pa.array([v.decode() for v in values], type=pa.string())})
    pq.write_table(table, path, row_group_size=max(1, math.ceil(len(values) / (4 * cores))))


# --- the paths --------------------------------------------------------------------------------------------------


def load_baseline(rev: str) -> types.ModuleType:
    """pipeline/parsing.py as it was at `rev`, as a module of its own."""
    root = Path(__file__).resolve().parent.parent
    shown = subprocess.run(["git", "show", f"{rev}:pipeline/parsing.py"], cwd=root, capture_output=True, text=True,
                           timeout=30)  # fmt: skip
    if shown.returncode != 0:
        raise SystemExit(f"error: cannot read pipeline/parsing.py at {rev}: {shown.stderr.strip()}")
    module = types.ModuleType(f"parsing_at_{rev}")
    exec(compile(shown.stdout, f"{rev}:pipeline/parsing.py", "exec"), module.__dict__)  # noqa: S102 (own history)
    return module


def variant_only(rev: str) -> Checked:
    """The previous code with its compact pattern matching nothing: every value through VARIANT."""
    module = load_baseline(rev)
    module.compact_pattern = lambda topic_kind: r"^(?!)"
    return module.checked


def typed_then_variant(rev: str) -> Checked:
    """A typed `from_json` read, and the previous code's VARIANT checks for the values it does not take (a value the
    read takes is not looked at again, so text read from a number or a second copy of a field passes)."""
    base = load_baseline(rev)

    def checked(topic: str) -> Callable[[DataFrame], DataFrame]:
        fields = base.TOPIC_FIELDS[topic]
        schema = ", ".join(f"`{n}` {base._FIELD_TYPES[k]}" for n, k in fields.items()) + ", _corrupt string"
        options = {"columnNameOfCorruptRecord": "_corrupt", "allowSingleQuotes": "false",
                   "allowNonNumericNumbers": "false"}  # fmt: skip

        def transform(df: DataFrame) -> DataFrame:
            df = df.select(*df.columns, F.from_json("value", schema, options).alias("_read"))
            read = F.col("_read")
            df = df.select(*df.columns, *[read[n].alias(n) for n in fields], read["_corrupt"].alias("_corrupt"))
            fast = F.col("_corrupt").isNull()
            for name, kind in fields.items():
                fast &= F.col(name).isin(*ACTIONS) if kind == "action" else F.col(name).isNotNull()
            df = df.select(*df.columns, F.coalesce(fast, F.lit(False)).alias("_fast"))
            df = df.select(*df.columns, F.when(~F.col("_fast"), F.try_parse_json("value")).alias("v"))
            values: list[tuple[Column, str]] = []
            for name, kind in fields.items():
                if kind in ("id", "action"):
                    bad = F.col(name) < 0 if kind == "id" else ~F.col(name).isin(*ACTIONS)
                    values.append((bad, f"negative id {name}" if kind == "id" else f"{name} is not start or stop"))
            if topic == "gym":
                logout, login = F.col("logout"), F.col("login")
                values.append((logout.isNotNull() & (logout <= login), "logout is not after login"))
            general = F.coalesce(base._structure_reason(fields), base._first_failing(values))
            reason = F.when(F.col("_fast"), base._first_failing(values)).otherwise(general)
            helpers = ("_read", "_corrupt", "_fast", "v")
            return df.select(*[c for c in df.columns if c not in helpers], reason.alias("reason"))

        return transform

    return checked


def read_alone(topic: str) -> Callable[[DataFrame], DataFrame]:
    """The typed `from_json` read and nothing else (no check, no reason): the floor of any path through it."""
    from pipeline.parsing import TOPIC_FIELDS

    schema = ", ".join(f"`{n}` {'bigint' if k == 'id' else 'double' if 'number' in k else 'string'}"
                       for n, k in TOPIC_FIELDS[topic].items())  # fmt: skip

    def transform(df: DataFrame) -> DataFrame:
        # read once into a column: fields taken straight from the call would each get a pruned read of their own
        df = df.select(*df.columns, F.from_json("value", schema).alias("_read"))
        fields = [F.col("_read")[n].alias(n) for n in TOPIC_FIELDS[topic]]
        return df.select(*[c for c in df.columns if c != "_read"], *fields, F.lit(None).cast("string").alias("reason"))

    return transform


def paths(rev: str) -> dict[str, Checked]:
    from pipeline.parsing import checked

    return {
        f"previous: compact regex + VARIANT ({rev})": load_baseline(rev).checked,
        "VARIANT only": variant_only(rev),
        "typed from_json + VARIANT for the rest": typed_then_variant(rev),
        "floor: typed from_json read alone": read_alone,
        "one path: typed from_json + exact checks": checked,
    }


# --- measuring --------------------------------------------------------------------------------------------------


def run_once(frames: dict[str, DataFrame], checked: Checked) -> float:
    """Seconds to check every topic's values, each written to the noop sink."""
    began = time.perf_counter()
    for topic, df in frames.items():
        df.transform(checked(topic)).write.format("noop").mode("overwrite").save()
    return time.perf_counter() - began


def rejected(frames: dict[str, DataFrame], checked: Checked) -> int:
    return sum(df.transform(checked(topic)).where(F.col("reason").isNotNull()).count() for topic, df in frames.items())


def same_rows(first: dict[str, DataFrame], second: dict[str, DataFrame], a: Checked, b: Checked) -> bool:
    """Whether `a` over `first` and `b` over `second` give the same typed fields (as multisets of rows)."""
    from pipeline.parsing import TOPIC_FIELDS

    for topic in TOPICS:
        fields = ["reason", *TOPIC_FIELDS[topic]]
        left = first[topic].transform(a(topic)).select(fields)
        right = second[topic].transform(b(topic)).select(fields)
        if left.exceptAll(right).count() or right.exceptAll(left).count():
            return False
    return True


def timings(frames: dict[str, dict[str, DataFrame]], candidates: dict[str, Checked],
            reps: int) -> dict[tuple[str, str], list[float]]:  # fmt: skip
    """Seconds per (path, encoding) over `reps` rounds; each round starts with the next path, so none is always
    first after the machine's other work."""
    runs = [(name, encoding) for name in candidates for encoding in ENCODINGS]
    seconds: dict[tuple[str, str], list[float]] = {run: [] for run in runs}
    for rep in range(reps):
        for name, encoding in runs[rep % len(runs) :] + runs[: rep % len(runs)]:
            seconds[name, encoding].append(run_once(frames[encoding], candidates[name]))
        log.info("round %d of %d done", rep + 1, reps)
    return seconds


def report(counts: dict[str, int], mix: str, reps: int, seconds: dict[tuple[str, str], list[float]],
           rejects: dict[tuple[str, str], int], checks: dict[str, bool], notes: list[str]) -> list[str]:  # fmt: skip
    base_name = next(iter(seconds))[0]
    base = min(seconds[base_name, "compact"])
    per_topic = ", ".join(f"{t}={counts[t]:,}" for t in TOPICS)
    lines = [
        f"parse paths: checked(topic) over {sum(counts.values()):,} simulated values per encoding ({per_topic}; "
        f"{mix} mix), {reps} timed runs each",
        f"baseline: {base_name} on compact, min {base:.2f} s (= 1.00x)",
        f"{'':<44}{'compact min/med s':>19}{'x base':>8}{'generic min/med s':>19}{'x base':>8}{'rejected':>10}",
    ]
    names = dict.fromkeys(name for name, _ in seconds)
    for name in names:
        row = f"{name:<44}"
        for encoding in ENCODINGS:
            runs = seconds[name, encoding]
            row += f"{min(runs):>9.2f} /{statistics.median(runs):>6.2f}{min(runs) / base:>9.2f}x"
        row += f"{rejects[name, 'compact'] + rejects[name, 'generic']:>10,}"
        lines.append(row)
    one = list(names)[-1]
    for name in (base_name, one):
        rates = [f"{sum(counts.values()) / min(seconds[name, e]):,.0f} values/s on {e}" for e in ENCODINGS]
        lines.append(f"{name}: {', '.join(rates)}")
    lines += [f"check: {text}: {'yes' if ok else 'NO'}" for text, ok in checks.items()]
    # the headline figures, for `python -m benchmarks parse_paths --against REV`
    figures = {f"{who}_{e}_s": min(seconds[name, e]) for who, name in (("base", base_name), ("one_path", one))
               for e in ENCODINGS}  # fmt: skip
    return [*lines, *notes, "RESULT " + " ".join(f"{k}={v:.2f}" for k, v in figures.items())]


def measure(args: argparse.Namespace, workdir: Path) -> list[str]:
    from core.spark import get_spark

    compact = simulated_values(args.events, args.mix, args.seed)
    values = {"compact": compact, "generic": generic(compact, args.seed)}
    spark = get_spark(Settings.from_env(lakehouse_dir=workdir / "lakehouse"), app_name="benchmark-parse-paths")
    cores = spark.sparkContext.defaultParallelism
    frames: dict[str, dict[str, DataFrame]] = {}
    for encoding, by_topic in values.items():
        frames[encoding] = {}
        for topic, topic_values in by_topic.items():
            path = workdir / f"{encoding}-{topic}.parquet"
            write_parquet(topic_values, path, cores)
            frames[encoding][topic] = spark.read.parquet(str(path))
    notes = [code_version(), f"uptime at start: {uptime()}"]
    candidates = paths(args.baseline)
    one, previous = list(candidates.values())[-1], list(candidates.values())[0]
    try:
        rejects = {(name, e): rejected(frames[e], c) for name, c in candidates.items() for e in ENCODINGS}
        compact_frames, generic_frames = frames["compact"], frames["generic"]
        checks = {
            "the one path gives the previous code's rows (compact)": same_rows(compact_frames, compact_frames, one,
                                                                               previous),
            "the one path gives the same rows for both encodings": same_rows(compact_frames, generic_frames, one, one),
        }  # fmt: skip
        seconds = timings(frames, candidates, args.reps)
    finally:
        spark.stop()
    notes.append(f"uptime at the end: {uptime()}")
    return report({t: len(v) for t, v in compact.items()}, args.mix, args.reps, seconds, rejects, checks, notes)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="parsebench-"))
    try:
        lines = measure(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
