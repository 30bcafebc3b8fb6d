"""The soak benchmark's pure parts: figures per window, the verdict on their trend, and its arguments."""

from __future__ import annotations

import math

import pytest

from benchmarks.__main__ import parse_result
from benchmarks.soak import parse_args, speed_of
from benchmarks.soak_report import DAY, Probe, Soak, report_lines, result_line, slowest_queries, verdicts, windows

MIB = 1024 * 1024
T0 = 1_800_000_000.0


def probe(minute: float, query_ms: float, gold_files: int, disk_mib: float, rss_mib: float = 500) -> Probe:
    """A probe `minute` minutes in, at 720x (half a simulated day per minute); half of bronze's disk is live data; the
    frozen copy's queries take 5 ms."""
    return Probe(T0 + minute * 60, T0 + minute * 60 * 720, [query_ms / 2, query_ms],
                 {"gold.gym_summary": gold_files, "gold.workout_bpm_summary": 3, "silver.heart_rate": 150},
                 {"bronze": int(disk_mib * MIB), "gold": MIB}, {"pipeline": int(rss_mib * MIB)},
                 {"bronze": int(disk_mib * MIB / 2), "gold": MIB}, [5.0, 5.0])  # fmt: skip


def soak(query_ms: list[float], disk_mib: list[float], fresh: list[float], maintenance: list[float] = ()) -> Soak:
    """Six minutes, a probe and a freshness figure every minute, windows of two minutes, one minute of warm-up."""
    probes = [probe(m, q, 40 + 10 * m, d, 500 + m) for m, (q, d) in enumerate(zip(query_ms, disk_mib, strict=True))]
    return Soak(T0, T0 + 360, 120, 60, probes, [(T0 + m * 60 + 1, f) for m, f in enumerate(fresh)],
                [(T0 + m * 60, 10.0 + m) for m in range(6)], list(maintenance))  # fmt: skip


def test_each_window_has_its_percentiles_files_disk_and_peak_memory() -> None:
    s = soak([10, 20, 30, 40, 50, 60, 70], [0, 10, 20, 30, 40, 50, 60], [5, 6, 7, 8, 9, 10, 11])
    ws = windows(s)
    assert [w.index for w in ws] == [0, 1, 2]
    assert [w.query_p95 for w in ws] == [20, 40, 70]  # the last probe, at the end, counts in the last window
    assert [w.reference_p95 for w in ws] == [5, 5, 5] and [w.query_vs_reference for w in ws] == [4, 8, 14]
    assert [w.freshness_p95 for w in ws] == [6, 8, 10]  # a session seen after the end is in no window
    assert [w.round_p95 for w in ws] == [11, 13, 15]
    assert ws[1].gold_files == {"gold.gym_summary": 70, "gold.workout_bpm_summary": 3}
    assert ws[1].max_files == 150
    assert ws[2].memory == {"pipeline": 506 * MIB}
    # 10 MiB of disk a simulated half day, measured from the previous window's last probe
    assert [w.disk_per_sim_day for w in ws] == [20 * MIB, 20 * MIB, 20 * MIB]
    assert [w.live_per_sim_day for w in ws] == [10 * MIB, 10 * MIB, 10 * MIB]
    assert ws[1].sim_days == pytest.approx(2 * 60 * 720 / DAY)


def test_a_flat_run_meets_every_target() -> None:
    s = soak([10] * 7, [10 * m for m in range(7)], [5] * 7, maintenance=[T0 + 100])
    assert [met for _, met in verdicts(s, windows(s))] == [True, True, True, True, True, True]


def test_growing_latency_disk_or_files_miss_their_targets() -> None:
    s = soak([10, 10, 10, 10, 10, 13, 13], [0, 10, 20, 30, 40, 60, 80], [5, 5, 5, 5, 5, 7, 7],
             maintenance=[T0 + 250])  # fmt: skip
    checks = verdicts(s, windows(s))
    assert [met for _, met in checks] == [False, False, False, False, False, True]  # 1.4x, 1.3x, 1.3x, 1.5x, 1.5x
    assert "window 2 is 1.40x window 1's" in checks[0][0]
    s.probes[5].table_files["gold.gym_summary"] = 101
    assert verdicts(s, windows(s))[-1][1] is False


def test_files_kept_for_vacuum_grow_the_disk_but_not_the_live_data() -> None:
    s = soak([10] * 7, [0, 10, 20, 30, 40, 60, 80], [5] * 7, maintenance=[T0 + 100])
    for p in s.probes:  # the current versions grow 5 MiB a minute; the rest of the growth is superseded files
        p.live_bytes["bronze"] = int((p.at - T0) / 60 * 5 * MIB)
    checks = dict(verdicts(s, windows(s)))
    assert checks["disk per simulated day: window 2 is 1.67x window 1's (target <= 1.2x)"] is False
    assert checks["live data per simulated day: window 2 is 1.00x window 1's (target <= 1.2x)"] is True


def test_a_slower_machine_slows_the_frozen_copy_too_and_the_ratio_stays_flat() -> None:
    s = soak([10, 10, 10, 10, 10, 20, 20], [10 * m for m in range(7)], [5] * 7, maintenance=[T0 + 100])
    for p in s.probes[5:]:  # the last window's probes share the machine with more work: both engines take twice as long
        p.reference_ms = [10.0, 10.0]
    checks = dict(verdicts(s, windows(s)))
    assert checks["dashboard query p95: window 2 is 2.00x window 1's (target <= 1.2x)"] is False
    assert checks["dashboard query p95 over its frozen copy's: window 2 is 1.00x window 1's (target <= 1.2x)"] is True
    s.probes[6].reference_ms = []  # a probe whose copy could not be queried adds nothing to its window
    assert windows(s)[2].reference_p95 == 10


def test_the_slowest_queries_of_the_last_window_are_listed_beside_the_first_window_and_the_frozen_copy() -> None:
    s = soak([10, 10, 10, 10, 10, 40, 40], [10 * m for m in range(7)], [5] * 7)
    for p in s.probes:
        p.query_names = ["Gym usage: occupancy", "Operations: bronze_offsets"]
    lines = slowest_queries(s, windows(s), count=1)
    assert lines[0] == "slowest queries at p95 in window 2, beside window 1 and the frozen copy in window 2:"
    assert lines[1].split() == ["Operations:", "bronze_offsets", "40.0", "ms", "10.0", "ms", "5.0", "ms"]
    s.end = T0 + 110  # one window: nothing to compare
    assert slowest_queries(s, windows(s)) == []


def test_a_run_too_short_to_judge_says_so() -> None:
    s = soak([10, 10], [0, 1], [5, 5])
    s.end = T0 + 110
    checks = verdicts(s, windows(s))
    assert [met for _, met in checks] == [None, None]
    assert "fewer than two windows" in checks[0][0] and "no maintenance run" in checks[1][0]


def test_a_window_without_a_figure_is_passed_over_in_its_trend() -> None:
    s = soak([10] * 7, [10 * m for m in range(7)], [5] * 7, maintenance=[T0 + 100])
    s.window = 60  # windows 1 to 5 are judged; window 1 sees no session, window 5 a slow one
    s.freshness = [(at, f) for at, f in s.freshness if not T0 + 60 <= at < T0 + 120] + [(T0 + 330, 9.0)]
    checks = verdicts(s, windows(s))
    assert checks[0] == ("freshness p95: window 5 is 1.80x window 2's (target <= 1.2x)", False)


def test_report_and_result_lines_show_missing_figures_as_such() -> None:
    s = soak([10] * 7, [0] * 7, [5] * 7)
    s.freshness = []
    ws = windows(s)
    assert len(report_lines(s, ws)) == 1 + len(ws)
    figures = parse_result(result_line(s, ws))
    assert math.isnan(figures["freshness_p95_last_s"]) and figures["query_p95_last_s"] == 0.01


def test_speed_is_simulated_seconds_per_second() -> None:
    assert speed_of(30, 60) == 720


@pytest.mark.parametrize("bad", [["--minutes", "0"], ["--members", "-1"], ["--warmup-minutes", "-1"]])
def test_bad_arguments_are_one_error(bad: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(bad)


def test_the_frozen_copy_answers_every_page_query_as_the_tables_did_and_stays_as_it_was(tmp_path) -> None:
    from datetime import date

    from deltalake import DeltaTable, write_deltalake

    from app.engines import LocalEngine
    from benchmarks.dashboard_latency import page_queries
    from benchmarks.soak import freeze
    from core.settings import Settings
    from tests.support.demo_data import DemoSpec, write_demo_lakehouse

    write_demo_lakehouse(tmp_path / "live", DemoSpec(sessions=80, members=15, days=5, last_day=date(2026, 11, 20)))
    live = LocalEngine(Settings.from_env({}, lakehouse_dir=tmp_path / "live"), recheck_seconds=0)
    frozen = LocalEngine(freeze(live.settings, live, tmp_path / "frozen"), recheck_seconds=0)
    try:
        bounds = [b for page in page_queries(live).values() for b in page]
        assert {f"{t.layer}.{t.name}" for b in bounds for t in b.tables} >= {"gold.workout_bpm_summary",
                                                                             "gold.gym_summary"}  # fmt: skip
        for bound in bounds:  # an unordered answer may come in any order
            got, want = frozen.query(bound).to_pylist(), live.query(bound).to_pylist()
            assert (got if bound.ordered else sorted(got, key=repr)) == (
                want if bound.ordered else sorted(want, key=repr)
            ), bound.name
        gold = DeltaTable(str(tmp_path / "live" / "gold" / "workout_bpm_summary"))
        write_deltalake(gold, gold.to_pyarrow_table().slice(0, 5), mode="append")  # the live table grows
        assert DeltaTable(str(tmp_path / "live" / "gold" / "workout_bpm_summary")).to_pyarrow_table().num_rows == 85
        copy = DeltaTable(str(tmp_path / "frozen" / "lakehouse" / "gold" / "workout_bpm_summary"))
        assert copy.version() == 0 and copy.to_pyarrow_table().num_rows == 80
    finally:
        live.close()
        frozen.close()
