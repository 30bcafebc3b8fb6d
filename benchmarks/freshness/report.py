"""The stream freshness benchmark's report: freshness percentiles, the lag's trend and where the time goes."""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from dataclasses import dataclass

from benchmarks.freshness.load import SessionKey, Workload
from benchmarks.freshness.probe import LagSample
from benchmarks.pipeline_batch import StepTime, summarise_steps

TARGET_P95_SECONDS = 30.0


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def lag_trend(lags: list[float]) -> tuple[float, float]:
    """Mean lag of the first and of the last third of the samples (the whole list when fewer than three)."""
    if not lags:
        raise ValueError("no lag samples")
    third = max(1, len(lags) // 3)
    return sum(lags[:third]) / third, sum(lags[-third:]) / third


def lag_grows(first: float, last: float, tolerance: float) -> bool:
    """Whether the lag grew: the last third's mean above the first third's by more than `tolerance` records (the
    records of about one trigger interval, which a sample may catch in flight) and by more than half."""
    return last > first + tolerance and last > 1.5 * first


def freshness(stops: dict[SessionKey, float], seen: dict[SessionKey, float]) -> list[float]:
    """Seconds from producing each session's stop record to the poll that first saw its gold row."""
    return [seen[k] - t for k, t in stops.items() if k in seen]


@dataclass
class Result:
    """What one run measured, for the report."""

    workload: Workload
    window: tuple[float, float]  # the measured window (epoch seconds)
    span: tuple[float, float]  # from the first record produced to the end of the drain
    stops: dict[SessionKey, float]
    seen: dict[SessionKey, float]
    produced: list[tuple[float, int]]
    lags: list[LagSample]
    poll_seconds: list[float]
    steps: list[StepTime]
    stage_runs: list[dict]
    bronze_batches: dict[int, dict]
    errors: int
    loads: list[str]
    drained_in: float


def achieved_rate(produced: list[tuple[float, int]], window: tuple[float, float]) -> float:
    """Records per second produced inside the window, from the producer's (time, cumulative count) marks."""
    inside = [(t, n) for t, n in produced if window[0] <= t <= window[1] + 1.0]
    if len(inside) < 2:
        return 0.0
    (t1, n1), (t2, n2) = inside[0], inside[-1]
    return (n2 - n1) / (t2 - t1) if t2 > t1 else 0.0


def window_freshness(r: Result) -> tuple[dict[SessionKey, float], list[float]]:
    """The sessions stopped inside the measured window (with their stop times) and the freshness of those seen."""
    in_window = {k: t for k, t in r.stops.items() if r.window[0] <= t <= r.window[1]}
    return in_window, freshness(in_window, r.seen)


def result_line(r: Result) -> str:
    """The headline figures as one `RESULT name=value ...` line, for `python -m benchmarks NAME --against REV`."""
    in_window, fresh = window_freshness(r)
    figures = {
        "freshness_p50_s": percentile(fresh, 50) if fresh else math.nan,
        "freshness_p95_s": percentile(fresh, 95) if fresh else math.nan,
        "freshness_max_s": max(fresh) if fresh else math.nan,
        "sessions_missed": len(in_window) - len(fresh),
        "produced_per_s": achieved_rate(r.produced, r.window),
        "lag_last_third": lag_trend([float(s.lag) for s in r.lags])[1] if r.lags else math.nan,
    }
    return "RESULT " + " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())


def report(args: argparse.Namespace, r: Result) -> list[str]:
    w = r.workload
    in_window, fresh = window_freshness(r)
    rate = achieved_rate(r.produced, r.window)
    lines = [
        f"stream freshness: {args.rate:,.0f} records/s asked for {args.minutes:g} min (after {args.warmup_seconds:g} s "
        f"of warm-up); {len(w.users):,} members, sessions of {w.session_seconds:g} s every {w.cycle:g} s "
        f"({w.workout_rate:,.0f} workout records/s, {w.bpm_rate:,.0f} readings/s, ~{w.readings_per_session:.0f} "
        f"readings per session); stream rounds every {args.interval:g} s",
        f"achieved produce rate in the window: {rate:,.0f} records/s ({rate / args.rate:.0%} of asked); "
        f"delivery errors: {r.errors}",
        f"sessions: {len(in_window):,} stopped in the window, {len(fresh):,} seen in gold "
        f"({len(in_window) - len(fresh):,} not seen; drain took {r.drained_in:.0f} s, at most "
        f"{args.drain_seconds:g})",
    ]  # fmt: skip
    if fresh:
        p50, p95 = percentile(fresh, 50), percentile(fresh, 95)
        met = p95 < TARGET_P95_SECONDS and len(fresh) == len(in_window)
        lines.append(f"freshness (stop produced -> row visible in gold): p50 {p50:.1f} s, p95 {p95:.1f} s, "
                     f"max {max(fresh):.1f} s, min {min(fresh):.1f} s; target p95 < {TARGET_P95_SECONDS:g} s: "
                     f"{'met' if met else 'NOT met'}")  # fmt: skip
    else:
        lines.append(f"freshness: no session of the window reached gold; target p95 < {TARGET_P95_SECONDS:g} s: "
                     "NOT met")  # fmt: skip
    if r.poll_seconds:
        read = percentile(r.poll_seconds, 50)
        lines.append(f"(gold polled every ~{args.poll_seconds:g} s; one read took p50 {read:.2f} s, max "
                     f"{max(r.poll_seconds):.2f} s: add up to that much uncertainty)")  # fmt: skip
    if r.lags:
        values = [float(s.lag) for s in r.lags]
        first, last = lag_trend(values)
        grows = lag_grows(first, last, tolerance=args.rate * args.interval)
        lines.append(f"consumer lag (Kafka end offsets - bronze), {len(values)} samples every ~{args.lag_seconds:g} s: "
                     f"first third mean {first:,.0f}, last third mean {last:,.0f}, max {max(values):,.0f} records -> "
                     f"{'GROWING' if grows else 'not growing'}")  # fmt: skip
        lines.append("  samples: " + ", ".join(f"{s.lag:,}" for s in r.lags))
        offsets, bronze = [s.offsets_seconds for s in r.lags], [s.bronze_seconds for s in r.lags]
        lines.append(f"  (one sample: end offsets p50 {percentile(offsets, 50):.2f} s, max {max(offsets):.2f} s; "
                     f"bronze offsets p50 {percentile(bronze, 50):.2f} s, max {max(bronze):.2f} s)")  # fmt: skip
    lines.append("")
    lines.append(f"where the time goes, from the first record produced to the end of the drain "
                 f"({r.span[1] - r.span[0]:.0f} s):")  # fmt: skip
    lines.extend(round_lines(r, args))
    lines.extend(r.loads)
    return lines


def round_lines(r: Result, args: argparse.Namespace) -> list[str]:
    out = []
    batches = [p for p in r.bronze_batches.values() if p.get("numInputRows")]
    if batches:
        trig = [p["durationMs"].get("triggerExecution", 0) / 1000 for p in batches]
        rows = [p["numInputRows"] for p in batches]
        out.append(f"  Kafka -> bronze (continuous, trigger {args.interval:g} s): {len(batches)} micro-batches seen, "
                   f"{sum(rows) / len(rows):,.0f} rows each on average, took p50 {percentile(trig, 50):.1f} s, "
                   f"max {max(trig):.1f} s")  # fmt: skip
    by_stage: dict[str, list[float]] = defaultdict(list)
    for run_ in r.stage_runs:
        by_stage[run_["stage"]].append(run_["seconds"])
    for stage, v in by_stage.items():
        if v:
            out.append(f"  {stage:<7} stage (ops.pipeline_runs): {len(v)} runs, p50 {percentile(v, 50):.1f} s, "
                       f"p95 {percentile(v, 95):.1f} s, max {max(v):.1f} s")  # fmt: skip
    silver_starts = [x["start"] for x in r.stage_runs if x["stage"] == "silver"]
    periods = [b - a for a, b in zip(silver_starts, silver_starts[1:], strict=False)]
    if periods:
        out.append(f"  one round (silver start to the next): p50 {percentile(periods, 50):.1f} s, "
                   f"p95 {percentile(periods, 95):.1f} s, max {max(periods):.1f} s")  # fmt: skip
    if r.steps:
        out.append("  per step (the pipeline's step log lines), slowest first:")
        span = r.span[1] - r.span[0]
        for stage, step, runs, rows, sec in summarise_steps(r.steps):
            out.append(f"    {stage:<7}{step:<40}{runs:>4} runs{rows:>11,} rows{sec:>8.1f} s total "
                       f"{sec / runs:>6.2f} s/run  {sec / span:>6.1%} of the time")  # fmt: skip
    return out
