"""A synthetic lakehouse with the contract's schemas, written with `deltalake` (no Spark), for tests and benchmarks.

Small and deterministic for tests and screenshots, or large (a million sessions in seconds) for the latency benchmark:

    python -m tests.support.demo_data DIR [--sessions N]
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from core.contract import (
    GYM_SUMMARY,
    KAFKA_MULTIPLEX_BZ,
    PIPELINE_RUNS,
    QUARANTINE,
    WORKOUT_BPM,
    WORKOUT_BPM_SUMMARY,
    Table,
)

log = logging.getLogger(__name__)

_ARROW_TYPES = {
    "BIGINT": pa.int64(), "INT": pa.int32(), "STRING": pa.string(), "DOUBLE": pa.float64(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"), "DATE": pa.date32(), "BOOLEAN": pa.bool_(),
}  # fmt: skip

AGE_BINS = ("18-25", "25-35", "35-45", "45-55", "55-65", "65-75")
GENDERS = ("F", "M", "Non-binary")
PLACES = (("CA", "Los Angeles"), ("CA", "San Diego"), ("NY", "New York"), ("TX", "Austin"), ("WA", "Seattle"))
QUARANTINE_REASONS = ("invalid json", "missing field heartrate", "logout not after login")


def arrow_schema(table: Table) -> pa.Schema:
    """The pyarrow schema of a contract table, from its Spark DDL."""
    return pa.schema([pa.field(c.name, _ARROW_TYPES[c.type]) for c in table.columns])


def write_table(lakehouse_dir: Path, table: Table, columns: dict[str, object]) -> None:
    from deltalake import write_deltalake

    data = pa.table({f.name: pa.array(columns[f.name], type=f.type) for f in arrow_schema(table)},
                    schema=arrow_schema(table))  # fmt: skip
    path = lakehouse_dir / table.layer / table.name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_deltalake(str(path), data, mode="overwrite", partition_by=list(table.partition_by) or None)


@dataclass(frozen=True)
class DemoSpec:
    sessions: int = 400
    members: int = 60
    gyms: int = 3
    days: int = 14
    last_day: date | None = None  # default: today (UTC)
    readings: bool = True  # write silver.workout_bpm
    reading_sessions: int | None = None  # how many sessions get readings (None: all)
    seed: int = 7


def _ts(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype("datetime64[us]"), type=pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))


def write_demo_lakehouse(lakehouse_dir: Path, spec: DemoSpec = DemoSpec()) -> dict[str, int]:
    """Write gold, the ops tables, silver.workout_bpm and bronze.kafka_multiplex_bz; returns row counts per table."""
    rng = np.random.default_rng(spec.seed)
    last_day = spec.last_day or datetime.now(UTC).date()
    day0 = np.datetime64(last_day - timedelta(days=spec.days - 1), "us")
    n, m = spec.sessions, spec.members
    counts: dict[str, int] = {}

    member_age = rng.integers(0, len(AGE_BINS), m)
    member_gender = rng.integers(0, len(GENDERS), m)
    member_place = rng.integers(0, len(PLACES), m)
    macs = np.array([f"02:00:00:00:{i // 256:02x}:{i % 256:02x}" for i in range(m)])

    # Workout sessions
    user = rng.integers(0, m, n)
    day = rng.integers(0, spec.days, n)
    minute = rng.integers(6 * 60, 21 * 60, n)
    start = day0 + (day * 86400 + minute * 60).astype("timedelta64[s]")
    duration_s = rng.integers(20, 91, n) * 60
    end = start + duration_s.astype("timedelta64[s]")
    avg = np.round(100 + member_age[user] * 6 + rng.normal(0, 12, n), 2)
    no_profile = rng.random(n) < 0.03
    gym = rng.integers(1, spec.gyms + 1, n).astype(object)
    gym[rng.random(n) < 0.05] = None

    def profile(values: np.ndarray) -> list[object]:
        out = values.astype(object)
        out[no_profile] = None
        return out.tolist()

    write_table(lakehouse_dir, WORKOUT_BPM_SUMMARY, {
        "user_id": user + 1, "workout_id": np.arange(n) // 2 + 1, "session_id": np.arange(n) % 2 + 1,
        "start_time": _ts(start), "end_time": _ts(end), "gym": gym.tolist(),
        "age": profile(np.array(AGE_BINS)[member_age[user]]), "gender": profile(np.array(GENDERS)[member_gender[user]]),
        "city": profile(np.array([c for _, c in PLACES])[member_place[user]]),
        "state": profile(np.array([s for s, _ in PLACES])[member_place[user]]),
        "min_bpm": np.round(avg - rng.uniform(10, 30, n), 1), "avg_bpm": avg,
        "max_bpm": np.round(avg + rng.uniform(10, 45, n), 1), "num_recordings": duration_s // 10,
    })  # fmt: skip
    counts[WORKOUT_BPM_SUMMARY.full_name] = n

    if spec.readings:
        per = 30  # readings per session, evenly over the session
        k = n if spec.reading_sessions is None else min(n, spec.reading_sessions)
        idx = np.repeat(np.arange(k), per)
        step = np.tile(np.arange(per), k)
        t = start[idx] + (duration_s[idx] * step // per).astype("timedelta64[s]")
        hr = np.round(avg[idx] + 15 * np.sin(step / 4) + rng.normal(0, 3, k * per), 1)
        write_table(lakehouse_dir, WORKOUT_BPM, {
            "user_id": user[idx] + 1, "workout_id": idx // 2 + 1, "session_id": idx % 2 + 1,
            "start_time": _ts(start[idx]), "end_time": _ts(end[idx]), "time": _ts(t), "heartrate": hr,
        })  # fmt: skip
        counts[WORKOUT_BPM.full_name] = k * per

    # Gym visits: closed ones over the range, and a few members still inside on the last day
    v = max(10, n // 2)
    vis_member = rng.integers(0, m, v)
    vis_day = rng.integers(0, spec.days, v)
    login = day0 + (vis_day * 86400 + rng.integers(5 * 60, 21 * 60, v) * 60).astype("timedelta64[s]")
    stay_min = rng.integers(30, 151, v).astype(float)
    logout = login + (stay_min * 60).astype("timedelta64[s]")
    inside = np.zeros(v, dtype=bool)
    inside[: min(6, v)] = True
    login[inside] = (
        np.datetime64(datetime.combine(last_day, datetime.min.time()), "us")
        + np.arange(inside.sum()).astype("timedelta64[h]")
        + np.timedelta64(8, "h")
    )
    exercising = np.round(stay_min * rng.uniform(0.2, 0.95, v), 1)
    workouts = rng.integers(1, 4, v)
    no_workout = rng.random(v) < 0.1
    exercising[no_workout], workouts[no_workout] = 0.0, 0
    user_ids = (vis_member + 1).astype(object)
    user_ids[rng.random(v) < 0.03] = None
    logout_col = _ts(logout).to_pylist()
    minutes_col = stay_min.astype(object)
    for i in np.flatnonzero(inside):
        logout_col[i], minutes_col[i] = None, None
    write_table(lakehouse_dir, GYM_SUMMARY, {
        "mac_address": macs[vis_member], "gym": rng.integers(1, spec.gyms + 1, v), "login": _ts(login),
        "date": login.astype("datetime64[D]"), "user_id": user_ids.tolist(), "logout": logout_col,
        "minutes_in_gym": minutes_col.tolist(), "num_workouts": workouts, "minutes_exercising": exercising,
    })  # fmt: skip
    counts[GYM_SUMMARY.full_name] = v

    _write_ops(lakehouse_dir, last_day, rng, counts)
    return counts


def _write_ops(lakehouse_dir: Path, last_day: date, rng: np.random.Generator, counts: dict[str, int]) -> None:
    base = datetime.combine(last_day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=7)
    runs = {k: [] for k in ("run_id", "stage", "mode", "started_at", "finished_at", "status", "rows_in", "rows_out",
                            "error")}  # fmt: skip
    for r in range(4):
        for s, stage in enumerate(("bronze", "silver", "gold")):
            began = base + timedelta(minutes=30 * r + 2 * s)
            failed = r == 1 and stage == "gold"
            for key, value in (("run_id", f"run-{r + 1:03d}"), ("stage", stage), ("mode", "batch"),
                               ("started_at", began), ("finished_at", began + timedelta(seconds=40 + 10 * s)),
                               ("status", "failed" if failed else "succeeded"), ("rows_in", 1000 * (r + 1)),
                               ("rows_out", 0 if failed else 900 * (r + 1)),
                               ("error", "AnalysisException: demo failure" if failed else None)):  # fmt: skip
                runs[key].append(value)
    write_table(lakehouse_dir, PIPELINE_RUNS, runs)
    counts[PIPELINE_RUNS.full_name] = len(runs["run_id"])

    k = 12
    reasons = [QUARANTINE_REASONS[i % 3] for i in range(k)]
    write_table(lakehouse_dir, QUARANTINE, {
        "source": [("bpm", "workout", "gym")[i % 3] for i in range(k)], "reason": reasons,
        "raw_value": [f'{{"bad": {i}' for i in range(k)], "partition": [i % 2 for i in range(k)],
        "offset": list(range(k)), "detected_at": [base + timedelta(minutes=i) for i in range(k)],
    })  # fmt: skip
    counts[QUARANTINE.full_name] = k

    rows = {c: [] for c in ("key", "value", "topic", "partition", "offset", "timestamp", "date", "week_part",
                            "load_time")}  # fmt: skip
    for topic in ("bpm", "workout", "gym"):
        for partition in (0, 1):
            for offset in range(int(rng.integers(20, 40))):
                ts = base + timedelta(seconds=offset)
                for key, value in (("key", str(offset)), ("value", "{}"), ("topic", topic), ("partition", partition),
                                   ("offset", offset), ("timestamp", ts), ("date", ts.date()),
                                   ("week_part", ts.strftime("%Y-%V")), ("load_time", ts)):  # fmt: skip
                    rows[key].append(value)
    write_table(lakehouse_dir, KAFKA_MULTIPLEX_BZ, rows)
    counts[KAFKA_MULTIPLEX_BZ.full_name] = len(rows["key"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.demo_data", description=__doc__.splitlines()[0])
    parser.add_argument("lakehouse_dir", type=Path)
    parser.add_argument("--sessions", type=int, default=DemoSpec.sessions)
    parser.add_argument("--members", type=int, default=DemoSpec.members)
    parser.add_argument("--days", type=int, default=DemoSpec.days)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    counts = write_demo_lakehouse(args.lakehouse_dir, DemoSpec(sessions=args.sessions, members=args.members,
                                                               days=args.days))  # fmt: skip
    for name, rows in counts.items():
        log.info("%s: %d rows", name, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
