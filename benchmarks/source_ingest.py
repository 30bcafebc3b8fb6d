"""Source ingest throughput: the pipeline's incremental JDBC ingest of PostgreSQL's two source tables into bronze
(`pipeline.bronze.ingest_sources`), next to PostgreSQL's own `COPY (SELECT ...) TO STDOUT` of the same rows in the
same run, on a throwaway local server (core.postgres).

    python -m benchmarks source_ingest [--rows 1000000] [--again 4] [--seed 1] [--keep DIR]

`--rows` profile changes (and a tenth as many registrations) are loaded with COPY; the timed ingest reads them all
into empty bronze tables (JVM start and an untimed warm-up ingest of a small table excluded), then runs once more
with nothing new (what an idle stream round costs). The same rows are then ingested `--again` times more, each time
into new empty bronze tables in the same JVM, and the best of those is reported too: the first big ingest also pays
the JIT compilation of its hot loops (what a batch run in a fresh JVM pays), the later ones run compiled code (what a
long-running stream runs). Target: at least 25% of COPY's rate.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.pipeline_batch import code_version, uptime
from core.contract import PROFILE_CHANGES_BZ, REGISTERED_USERS_BZ
from core.postgres import LocalPostgres
from core.service import free_port
from core.settings import Settings

log = logging.getLogger(__name__)

TARGET_SHARE = 0.25  # of COPY's rows per second
TABLES = ("registrations", "profile_changes")
# a throwaway server: loading the rows fast matters, durability does not
SERVER_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
CITIES = ("Austin", "Dallas", "Houston", "El Paso", "Plano", "Waco")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks source_ingest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--rows", type=int, default=1_000_000, help="profile changes to ingest (default 1,000,000)")
    parser.add_argument("--again", type=int, default=4, help="ingests of the same rows into new bronze (default 4)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.rows < 1000:
        parser.error(f"--rows must be at least 1000, got {args.rows}")
    if args.again < 1:
        parser.error(f"--again must be at least 1, got {args.again}")
    return args


def profile_rows(count: int, seed: int):
    """`count` profile changes of `count // 4` members, like the simulator's (values from a seeded generator)."""
    rng = random.Random(seed)
    members = max(1, count // 4)
    for _ in range(count):
        user = rng.randrange(1, members + 1)
        yield (user, rng.choice(("new", "update", "update", "delete")), 1.7e9 + rng.random() * 1e6,
               f"19{rng.randrange(40, 99)}-0{rng.randrange(1, 10)}-1{rng.randrange(0, 9)}", rng.choice("MF"),
               rng.choice(("Female", "Male", "non-binary")), f"First{user % 997}", f"Last{user % 991}",
               f"{user} Main St", rng.choice(CITIES), "TX", f"7{user % 10000:04d}")  # fmt: skip


def load(conninfo: str, rows: int, seed: int) -> dict[str, int]:
    """Create the source tables (the simulator's schema) and COPY the rows in; rows per table."""
    import psycopg

    from simulator.source_pg import COPY_PROFILE_CHANGES, COPY_REGISTRATIONS, SCHEMA

    users = max(1, rows // 10)
    with psycopg.connect(conninfo) as conn:
        for statement in SCHEMA:
            conn.execute(statement)
        with conn.cursor() as cur:
            with cur.copy(COPY_REGISTRATIONS) as copy:
                for user in range(1, users + 1):
                    copy.write_row((user, 1_000_000 + user, f"aa:bb:cc:{user >> 16 & 255:02x}:{user >> 8 & 255:02x}:"
                                    f"{user & 255:02x}", 1.7e9 + user))  # fmt: skip
            with cur.copy(COPY_PROFILE_CHANGES) as copy:
                for row in profile_rows(rows, seed):
                    copy.write_row(row)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")  # hint bits set: the ingest and COPY read the same settled pages
    return {"registrations": users, "profile_changes": rows}


def copy_out(conninfo: str) -> tuple[float, int]:
    """(seconds, bytes) of `COPY (SELECT * FROM t) TO STDOUT` of every source table, read to the end."""
    import psycopg

    size = 0
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        began = time.perf_counter()
        for table in TABLES:
            with cur.copy(f"COPY (SELECT * FROM {table}) TO STDOUT") as copy:
                for block in copy:
                    size += len(block)
        return time.perf_counter() - began, size


def timed_ingest(spark, settings: Settings) -> float:
    """Seconds of one source ingest into bronze (pipeline.bronze.ingest_sources)."""
    from pipeline.bronze import ingest_sources
    from pipeline.run_state import StageRun
    from pipeline.storage import Lakehouse

    lh = Lakehouse(spark, settings)
    for table in (REGISTERED_USERS_BZ, PROFILE_CHANGES_BZ):
        lh.ensure(table)
    began = time.perf_counter()
    ingest_sources(StageRun(lh))
    return time.perf_counter() - began


def bronze_rows(settings: Settings) -> int:
    from deltalake import DeltaTable

    return sum(DeltaTable(str(settings.table_path("bronze", t.name).resolve())).count()
               for t in (REGISTERED_USERS_BZ, PROFILE_CHANGES_BZ))  # fmt: skip


def measure(args: argparse.Namespace, workdir: Path) -> list[str]:
    from core.spark import get_spark
    from tests.support.postgres import create_database

    notes = [code_version(), f"uptime at start: {uptime()}; {os.cpu_count()} CPUs"]
    server = LocalPostgres(data_dir=workdir / "postgres", port=free_port(), server_settings=SERVER_SETTINGS)
    server.start()
    try:
        warm_db, main_db = create_database(server), create_database(server)
        load(warm_db.conninfo, 5_000, args.seed + 1)
        began = time.perf_counter()
        counts = load(main_db.conninfo, args.rows, args.seed)
        total = sum(counts.values())
        print(f"loaded {total:,} source rows ({counts['registrations']:,} registrations, {counts['profile_changes']:,} "
              f"profile changes) with COPY in {time.perf_counter() - began:.1f} s", flush=True)  # fmt: skip

        def settings_for(db, name: str) -> Settings:
            return Settings.from_env({}, lakehouse_dir=workdir / name / "lakehouse", data_dir=workdir / name / "data",
                                     **db.settings_overrides())  # fmt: skip

        warm, main = settings_for(warm_db, "warmup"), settings_for(main_db, "main")
        copy_seconds, copy_bytes = copy_out(main_db.conninfo)
        notes.append(f"uptime after COPY: {uptime()}")
        spark = get_spark(main, app_name="benchmark-source-ingest")
        try:
            warm_seconds = timed_ingest(spark, warm)
            notes.append(f"uptime before the timed ingest: {uptime()}")
            seconds = timed_ingest(spark, main)
            idle_seconds = timed_ingest(spark, main)
            again_runs = []
            for run in range(args.again):
                again = settings_for(main_db, f"again{run}")
                again_runs.append(timed_ingest(spark, again))
                if (got := bronze_rows(again)) != total:
                    raise RuntimeError(f"ingest {run + 2}: bronze holds {got:,} source rows, {total:,} were loaded")
                shutil.rmtree(workdir / f"again{run}")  # 1M rows: about 40 MB of bronze each
            notes.append(f"uptime after the timed ingests: {uptime()}")
        finally:
            spark.stop()
        second_copy, _ = copy_out(main_db.conninfo)  # COPY again after Spark: the baseline under the same load
    finally:
        server.stop()
    in_bronze = bronze_rows(main)
    if in_bronze != total:
        raise RuntimeError(f"bronze holds {in_bronze:,} source rows, {total:,} were loaded")
    copy_rate = total / min(copy_seconds, second_copy)
    again_seconds = min(again_runs)
    rate, again_rate = total / seconds, total / again_seconds
    share, again_share = rate / copy_rate, again_rate / copy_rate

    def met(part: float) -> str:
        return "met" if part >= TARGET_SHARE else "NOT met"

    return [
        f"source ingest from PostgreSQL: {total:,} rows ({counts['registrations']:,} registrations, "
        f"{counts['profile_changes']:,} profile changes; COPY text {copy_bytes / 1e6:,.0f} MB) into empty bronze",
        f"{'':<52}{'rows/s':>12}{'seconds':>10}",
        f"{'PostgreSQL COPY (SELECT *) TO STDOUT (best of 2)':<52}{copy_rate:>12,.0f}"
        f"{min(copy_seconds, second_copy):>10.2f}   (runs: {copy_seconds:.2f} s, {second_copy:.2f} s)",
        f"{'pipeline source ingest, JDBC -> bronze':<52}{rate:>12,.0f}{seconds:>10.2f}   ({share:.1%} of COPY)",
        f"{'the same ingest again, nothing new (an idle round)':<52}{'':>12}{idle_seconds:>10.2f}",
        f"{f'the same rows into new bronze, JIT warm (best of {args.again})':<52}{again_rate:>12,.0f}"
        f"{again_seconds:>10.2f}   ({again_share:.1%} of COPY; runs: {', '.join(f'{s:.2f}' for s in again_runs)} s)",
        f"{'target':<52}{'':>12}{'':>10}   {TARGET_SHARE:.0%} of COPY: first ingest {met(share)}, "
        f"JIT warm {met(again_share)}",
        f"(JVM start excluded; an untimed warm-up ingest of 5,500 rows took {warm_seconds:.1f} s)",
        f"checks: bronze source rows={in_bronze:,} (and as many after each ingest again)",
        *notes,
        f"RESULT ingest_rows_per_s={rate:.1f} copy_rows_per_s={copy_rate:.1f} share_of_copy={share:.3f} "
        f"ingest_s={seconds:.2f} idle_ingest_s={idle_seconds:.2f} warm_ingest_rows_per_s={again_rate:.1f} "
        f"warm_share_of_copy={again_share:.3f}",
    ]


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="sourcebench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        lines = measure(args, workdir)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
