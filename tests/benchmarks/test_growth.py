"""The growth benchmark's pure parts: sizes, the report beside the smallest size, the verdicts and the RESULT line."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from benchmarks.__main__ import change, parse_result
from benchmarks.growth import (
    BatchFigures,
    DashboardFigures,
    batch_lines,
    dashboard_lines,
    parse_args,
    parse_sizes,
    result_line,
    verdicts,
)
from benchmarks.resources import LayerUsage, layer_usage

MIB = 1024 * 1024


def batch(events: int, seconds: float) -> BatchFigures:
    layers = {"bronze": LayerUsage(files=12, bytes=40 * MIB, data_files=6, live_files=5)}
    return BatchFigures(events, seconds, 2048 * MIB, 900 * MIB, 300 * MIB, layers)


def dash(sessions: int, worst_ms: float, cold_s: float | None = None) -> DashboardFigures:
    queries = {"Workout BPM: workout_kpis": worst_ms / 2, "Gym usage: occupancy": worst_ms}
    cold = {"Workout BPM": cold_s} if cold_s else {}
    return DashboardFigures(sessions, 1.5, queries, {"Workout BPM": worst_ms}, cold, 400 * MIB)


def test_sizes_read_plain_and_with_units_ascending_without_repeats() -> None:
    assert parse_sizes("10M, 1000000,3m,500k,1M") == [500_000, 1_000_000, 3_000_000, 10_000_000]


@pytest.mark.parametrize("text", ["", "ten", "1M,-5", "0.0001k"])
def test_a_size_that_is_no_size_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_sizes(text, least=2)


def test_bad_sizes_on_the_command_line_are_one_error(capsys) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--sizes", "10"])
    assert "at least 1,000" in capsys.readouterr().err


def test_each_size_stands_beside_the_smallest() -> None:
    lines = batch_lines([batch(1_000_000, 30.0), batch(10_000_000, 360.0)])
    assert "baseline: the smallest size (1,000,000 events)" in lines[0]
    assert lines[2].split()[:4] == ["1,000,000", "30.0", "30.0", "1.00x"]
    assert lines[3].split()[:4] == ["10,000,000", "360.0", "36.0", "1.20x"]
    assert "bronze 5/6/12 40 MiB" in lines[5]


def test_the_slowest_queries_at_the_largest_gold_stand_beside_the_smallest() -> None:
    lines = dashboard_lines([dash(1_000_000, 20.0), dash(10_000_000, 90.0)])
    slowest = [line.split() for line in lines if line.strip().startswith("query p95")]
    assert slowest == [["query", "p95,", "Gym", "usage:", "occupancy", "20.0", "ms", "90.0", "ms"],
                       ["query", "p95,", "Workout", "BPM:", "workout_kpis", "10.0", "ms", "45.0", "ms"]]  # fmt: skip


def test_verdicts_judge_the_largest_against_the_targets() -> None:
    sizes = [batch(1_000_000, 30.0), batch(10_000_000, 390.0)]
    ok = verdicts(sizes, [dash(1_000_000, 20.0), dash(10_000_000, 99.0, 1.9)])
    assert [met for _, met in ok] == [True, True, True]
    missed = verdicts([batch(1_000_000, 30.0), batch(10_000_000, 391.0)], [dash(10_000_000, 100.0, 2.0)])
    assert [met for _, met in missed] == [False, False, False]
    assert "1.30x" in missed[0][0] and "Gym usage: occupancy 100.0 ms" in missed[1][0]


def test_one_size_judges_nothing_about_growth() -> None:
    assert verdicts([batch(1_000_000, 30.0)], []) == []


def test_the_result_line_compares_between_commits_lower_is_better() -> None:
    line = result_line([batch(1_000_000, 30.0)], [dash(10_000_000, 50.0, 1.5)])
    figures = parse_result(line)
    assert figures == {"batch_at_1000000_per_1m_events_s": 30.0, "jvm_rss_at_1000000_mib": 2048.0,
                       "query_p95_at_10000000_s": 0.05, "cold_page_at_10000000_s": 1.5}  # fmt: skip
    assert change("query_p95_at_10000000_s", 0.05, 0.04).endswith("(better)")


def test_layer_usage_counts_live_files_from_the_log_and_every_file_on_disk(tmp_path: Path) -> None:
    table = tmp_path / "gold" / "gym_summary"
    for n in range(3):
        write_deltalake(str(table), pa.table({"n": [n]}), mode="append")
    DeltaTable(str(table)).optimize.compact()
    (tmp_path / "_checkpoints" / "gold_gym").mkdir(parents=True)
    (tmp_path / "_checkpoints" / "gold_gym" / "offsets").write_text("x" * 10)
    usage = layer_usage(tmp_path)
    gold = usage["gold"]
    assert (gold.tables, gold.live_files, gold.data_files) == ({"gym_summary": 1}, 1, 4)
    live = Path(DeltaTable(str(table)).file_uris()[0].removeprefix("file://"))
    assert gold.live_bytes == live.stat().st_size  # the compacted file only, not the three it replaced
    assert gold.files == 4 + len(list((table / "_delta_log").iterdir())) and gold.bytes > 0
    assert (usage["_checkpoints"].files, usage["_checkpoints"].bytes) == (1, 10)
    assert usage["bronze"].files == 0
