"""The pure parts of the stream freshness benchmark: the producer's records, percentiles, lag and its trend."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from benchmarks.freshness.load import RecordBuilder, Workload
from benchmarks.freshness.probe import LagSample, delta_table, total_lag
from benchmarks.freshness.report import (
    Result,
    achieved_rate,
    freshness,
    lag_grows,
    lag_trend,
    percentile,
    report,
    result_line,
)
from benchmarks.pipeline_batch import StepTime
from benchmarks.stream_freshness import parse_args
from core.settings import Settings
from simulator.records import BPM, WORKOUT, malformed_reason

T0 = 1_764_000_000.0


def workload(rate: float = 1000.0, members: int = 50) -> Workload:
    users = tuple(range(1, members + 1))
    return Workload(rate, users, tuple(1_000_000 + u for u in users), session_seconds=30.0, gap_seconds=10.0)


def test_arguments_have_the_issue_defaults_and_reject_impossible_workloads():
    args = parse_args([])
    assert (args.rate, args.minutes, args.lag_seconds) == (10_000, 5.0, 10.0)
    for bad in (["--rate", "0"], ["--minutes", "-1"], ["--rate", "100", "--members", "1000"],
                ["--gap-seconds", "-1"]):  # fmt: skip
        with pytest.raises(SystemExit):
            parse_args(bad)


def test_builder_sends_the_asked_rate_of_contract_valid_records_in_time_order():
    builder = RecordBuilder(workload(), T0)
    records = builder.due(T0 + 59.9999) + builder.due(T0 + 60.0) + builder.due(T0 + 59.0)  # the clock only adds
    assert len(records) == pytest.approx(1000 * 60, rel=0.01)
    assert all(malformed_reason(BPM if r.kind == "bpm" else WORKOUT, r.value) is None for r in records)
    assert [r.time for r in records] == sorted(r.time for r in records)
    assert all(T0 <= r.time <= T0 + 60.0 for r in records)
    for r in records:  # keys are the contract's: device_id for bpm, user_id for workout
        value = json.loads(r.value)
        assert r.key == str(value["device_id" if r.kind == "bpm" else "user_id"]).encode()


def test_every_stop_completes_a_started_session_with_readings_of_the_members_device_inside_it():
    w = workload()
    records = RecordBuilder(w, T0).due(T0 + 120.0)
    starts = {(v["user_id"], v["workout_id"], v["session_id"]): v["time"]
              for r in records if r.kind == "workout" and (v := json.loads(r.value))["action"] == "start"}  # fmt: skip
    stops = [r for r in records if r.completes is not None]
    assert stops and all(json.loads(r.value)["action"] == "stop" for r in stops)
    device_of = dict(zip(w.users, w.devices, strict=True))
    readings: dict[int, list[dict]] = {}
    for r in records:
        if r.kind == "bpm":
            value = json.loads(r.value)
            readings.setdefault(value["device_id"], []).append(value)
    for stop in stops:
        start = starts[stop.completes]
        assert stop.time - start == pytest.approx(30.0)
        inside = [v for v in readings[device_of[stop.completes[0]]] if start <= v["time"] <= stop.time]
        assert len(inside) >= 3 and all(25 <= v["heartrate"] <= 250 for v in inside)
    assert len(set(r.completes for r in stops)) == len(stops)  # a session key is never reused


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (50.0, 95.0, 100.0)
    assert percentile([3.0], 95) == 3.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_lag_is_summed_over_partitions_and_grows_only_beyond_tolerance():
    ends = {("bpm", 0): 100, ("bpm", 1): 50, ("workout", 0): 10}
    assert total_lag(ends, {("bpm", 0): 90, ("bpm", 1): 50}) == 10 + 0 + 10
    assert lag_trend([10, 20, 30, 40, 50, 60]) == (15.0, 55.0)
    assert lag_trend([7]) == (7.0, 7.0)
    assert lag_grows(*lag_trend([1000, 9000, 20000, 40000, 60000, 80000]), tolerance=20000)
    assert not lag_grows(*lag_trend([15000, 2000, 18000, 1000, 19000, 3000]), tolerance=20000)
    assert not lag_grows(100.0, 400.0, tolerance=20000)  # small absolute changes are noise


def test_freshness_and_achieved_rate():
    stops = {(1, 1, 1): 100.0, (2, 1, 1): 101.0, (3, 1, 1): 102.0}
    assert freshness(stops, {(1, 1, 1): 105.5, (2, 1, 1): 103.0}) == [5.5, 2.0]
    produced = [(0.0, 0), (10.0, 1000), (11.0, 2000), (20.0, 11000), (40.0, 12000)]
    assert achieved_rate(produced, (10.0, 20.0)) == pytest.approx(1000.0)


def test_report_states_freshness_lag_trend_and_where_the_time_goes():
    w = workload()
    stops = {(u, 1, 1): 100.0 + u for u in range(1, 11)}
    seen = {k: t + 5.0 + k[0] for k, t in stops.items() if k[0] <= 9}  # one session never reaches gold
    lags = [LagSample(100.0 + 10 * i, lag, 0.01, 0.2) for i, lag in enumerate([100, 200, 150, 120, 180, 90])]
    stage_runs = [{"stage": "silver", "start": 100.0 + 20 * i, "seconds": 8.0} for i in range(4)]
    progress = {i: {"batchId": i, "numInputRows": 2000, "durationMs": {"triggerExecution": 1500}} for i in range(3)}
    result = Result(w, (100.0, 160.0), (90.0, 200.0), stops, seen, [(100.0, 0), (160.0, 60_000)], lags, [0.05],
                    [StepTime("gold", "gold_sessions_from_readings", 500, 3.0, 150.0)], stage_runs, progress, 0,
                    ["uptime: load average 1.00"], 12.0)  # fmt: skip
    text = "\n".join(report(parse_args(["--rate", "1000", "--members", "50", "--minutes", "1"]), result))
    assert "10 stopped in the window, 9 seen in gold (1 not seen" in text
    assert "p50 10.0 s, p95 14.0 s, max 14.0 s" in text and "NOT met" in text
    assert "achieved produce rate in the window: 1,000 records/s" in text
    assert "not growing" in text
    assert "silver  stage (ops.pipeline_runs): 4 runs" in text
    assert "one round (silver start to the next): p50 20.0" in text
    assert "gold_sessions_from_readings" in text and "uptime: load average 1.00" in text
    assert result_line(result) == ("RESULT freshness_p50_s=10.00 freshness_p95_s=14.00 freshness_max_s=14.00 "
                                   "sessions_missed=1 produced_per_s=1000.00 lag_last_third=135.00")  # fmt: skip


def test_a_table_whose_log_has_no_commit_yet_reads_as_absent(tmp_path):
    """The pipeline creates a table's log folder before its first commit; the pollers wait rather than fail."""
    settings = Settings.from_env(lakehouse_dir=tmp_path)
    path = settings.table_path("gold", "workout_bpm_summary")
    assert delta_table(settings, "gold", "workout_bpm_summary") is None
    (path / "_delta_log").mkdir(parents=True)
    assert delta_table(settings, "gold", "workout_bpm_summary") is None
    write_deltalake(str(path), pa.table({"user_id": [1]}), mode="overwrite")
    assert delta_table(settings, "gold", "workout_bpm_summary").version() == 0
