"""What the access policy costs the dashboard: each page query's median time as a gym manager (row filter around
the table) and as an analyst (masked columns) next to the platform admin's time for the same query (no policy view:
the baseline), on the local engine over a synthetic lakehouse.

    python -m benchmarks policy_overhead [--sessions 1000000] [--repeat 7] [--lakehouse-dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from app import queries as q
from app.data import secure
from app.engines import AccessDenied, LocalEngine
from core.settings import Settings
from governance.policy import load_policy
from tests.support.demo_data import DemoSpec, write_demo_lakehouse

LAST_DAY = date(2026, 11, 20)


def _queries() -> list[q.BoundQuery]:
    f = q.WorkoutFilters(LAST_DAY - timedelta(days=29), LAST_DAY)
    g = q.GymFilters(LAST_DAY - timedelta(days=29), LAST_DAY)
    return [q.workout_date_bounds(), q.workout_filter_options(), q.workout_kpis(f), q.bpm_by_age_gender(f),
            q.avg_bpm_distribution(f, 5), q.daily_trend(f), q.session_table(f), q.gym_date_bounds(),
            q.gym_options(), q.visits_per_day(g), q.visits_per_gym(g), q.occupancy(g), q.members_in_gym_now(),
            q.gym_minutes(g)]  # fmt: skip


def _median_ms(engine: LocalEngine, bound: q.BoundQuery, repeat: int) -> float:
    engine.query(bound)  # warm: the table's copy is loaded once
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        engine.query(bound)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks policy_overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--lakehouse-dir", type=Path, default=None, help="reuse (or write) the lakehouse here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="policy-overhead-") as tmp:
        measure(args.lakehouse_dir or Path(tmp), args.sessions, args.repeat)
    return 0


def measure(root: Path, sessions: int, repeat: int) -> None:
    """Print each query's median per role over the lakehouse at root, written first unless it is there."""
    if not (root / "gold" / "workout_bpm_summary").exists():
        write_demo_lakehouse(root, DemoSpec(sessions=sessions, members=5000, days=60, last_day=LAST_DAY,
                                            readings=False))  # fmt: skip
    policy = load_policy()
    roles = {"admin (baseline)": policy.access("admin", "platform_admin"), "analyst": policy.access("an", "analyst"),
             "gym manager": policy.access("gm", "gym_manager", (3,))}  # fmt: skip
    engine = LocalEngine(Settings.from_env({}, lakehouse_dir=root), recheck_seconds=3600)
    print(f"median of {repeat} runs per query, {sessions:,} sessions, local engine (DuckDB)")
    print(f"{'query':<24}" + "".join(f"{name:>18}" for name in roles))
    try:
        for bound in _queries():
            cells = []
            for rights in roles.values():
                try:
                    cells.append(f"{_median_ms(engine, secure(bound, rights), repeat):15.1f} ms")
                except AccessDenied:
                    cells.append(f"{'denied':>18}")
            print(f"{bound.name:<24}" + "".join(cells))
    finally:
        engine.close()
