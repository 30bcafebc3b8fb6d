"""The soak benchmark's figures per window and its verdict on their trend (pure: no Spark, Kafka or files)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from benchmarks.freshness.report import percentile
from benchmarks.resources import mib

TREND_TARGET = 1.2  # the last window within this many times the first after warm-up
GOLD_FILES_TARGET = 100  # files per gold table after a maintenance run
DAY = 86400.0


@dataclass
class Probe:
    """One sample, taken once a minute: each page query's time on the local engine, and what the system uses."""

    at: float  # wall clock, epoch seconds
    sim_at: float  # the simulator's clock then
    query_ms: list[float]
    table_files: dict[str, int]  # "layer.table" -> data files of its current version
    layer_bytes: dict[str, int]  # layer (and _checkpoints) -> bytes on disk
    memory: dict[str, int]  # process -> resident bytes
    # layer -> bytes of the tables' current versions: the data itself, without the files VACUUM keeps for a while
    live_bytes: dict[str, int] = field(default_factory=dict)
    # the same queries, in the same probe, on a copy of the tables frozen at the first probe that could query: they
    # share the machine with the pipeline as the live ones do, but read data that never grows
    reference_ms: list[float] = field(default_factory=list)
    query_names: list[str] = field(default_factory=list)  # "page: query" of each query_ms (and reference_ms) entry


@dataclass
class Soak:
    """What one soak run recorded."""

    t0: float
    end: float
    window: float  # seconds
    warmup: float  # seconds
    probes: list[Probe]
    freshness: list[tuple[float, float]]  # (when seen in gold, seconds from its stop record being produced)
    rounds: list[tuple[float, float]]  # (start, seconds to the next round's start), from ops.pipeline_runs
    maintenance: list[float] = field(default_factory=list)  # when each maintenance run finished


@dataclass
class Window:
    index: int
    start: float
    end: float
    round_p95: float
    freshness_p95: float
    query_p95: float
    gold_files: dict[str, int]  # at the window's last probe
    max_files: int  # the most files of any table then
    layer_bytes: dict[str, int]
    memory: dict[str, int]  # the most each process held in the window
    disk_per_sim_day: float  # bytes the lakehouse grew per simulated day over the window
    sim_days: float
    live_per_sim_day: float = math.nan  # bytes the tables' current versions grew per simulated day
    reference_p95: float = math.nan  # the frozen copy's query p95 in the same probes

    @property
    def query_vs_reference(self) -> float:
        """Query p95 over the frozen copy's: what the tables' growth costs, whatever else the machine was doing."""
        return self.query_p95 / self.reference_p95 if self.reference_p95 > 0 else math.nan


def _p95(values: list[float]) -> float:
    return percentile(values, 95) if values else math.nan


def _probes_in(s: Soak, lo: float, hi: float, last: bool) -> list[Probe]:
    """The probes of the window [lo, hi); the last window also takes the probe at its end."""
    return [p for p in s.probes if lo <= p.at < hi or (last and p.at == hi)]


def _judged(s: Soak, ws: list[Window]) -> list[Window]:
    """The windows after warm-up."""
    return [w for w in ws if w.start >= s.t0 + s.warmup - 1e-6]


def windows(s: Soak) -> list[Window]:
    out: list[Window] = []
    count = max(1, math.ceil((s.end - s.t0) / s.window - 1e-9))
    before: Probe | None = None
    for i in range(count):
        lo, hi = s.t0 + i * s.window, min(s.end, s.t0 + (i + 1) * s.window)
        inside = _probes_in(s, lo, hi, last=i == count - 1)
        last = inside[-1] if inside else before
        first = before or (inside[0] if inside else None)
        grown, live, days = math.nan, math.nan, 0.0
        if last is not None and first is not None and last.sim_at > first.sim_at:
            days = (last.sim_at - first.sim_at) / DAY
            grown = (sum(last.layer_bytes.values()) - sum(first.layer_bytes.values())) / days
            if last.live_bytes and first.live_bytes:
                live = (sum(last.live_bytes.values()) - sum(first.live_bytes.values())) / days
        memory: dict[str, int] = {}
        for p in inside:
            for name, value in p.memory.items():
                memory[name] = max(memory.get(name, 0), value)
        gold = {t: n for t, n in (last.table_files.items() if last else ()) if t.startswith("gold.")}
        out.append(Window(
            i, lo, hi,
            round_p95=_p95([sec for at, sec in s.rounds if lo <= at < hi]),
            freshness_p95=_p95([sec for at, sec in s.freshness if lo <= at < hi]),
            query_p95=_p95([ms for p in inside for ms in p.query_ms]),
            gold_files=gold, max_files=max(last.table_files.values(), default=0) if last else 0,
            layer_bytes=dict(last.layer_bytes) if last else {}, memory=memory, disk_per_sim_day=grown, sim_days=days,
            live_per_sim_day=live, reference_p95=_p95([ms for p in inside for ms in p.reference_ms]),
        ))  # fmt: skip
        before = last
    return out


def trend(first: float, last: float, target: float = TREND_TARGET) -> tuple[str, bool | None]:
    """'1.05x' and whether last <= target * first; None when either is missing."""
    if math.isnan(first) or math.isnan(last) or first <= 0:
        return "n/a", None
    return f"{last / first:.2f}x", last <= target * first


def gold_files_after_maintenance(s: Soak) -> list[tuple[float, int]]:
    """For each maintenance run: (when it finished, the most files of a gold table at the next probe)."""
    out = []
    for done in s.maintenance:
        after = next((p for p in s.probes if p.at >= done), None)
        if after is not None:
            gold = [n for t, n in after.table_files.items() if t.startswith("gold.")]
            out.append((done, max(gold, default=0)))
    return out


def verdicts(s: Soak, ws: list[Window]) -> list[tuple[str, bool | None]]:
    """(what, met) per target; met is None when the run cannot judge it (too short, nothing measured)."""
    judged = _judged(s, ws)
    out: list[tuple[str, bool | None]] = []
    if len(judged) < 2:
        out.append((f"trend: fewer than two windows after the {s.warmup / 60:g}-min warm-up", None))
    else:
        for name, attr in (("freshness p95", "freshness_p95"), ("dashboard query p95", "query_p95"),
                           ("dashboard query p95 over its frozen copy's", "query_vs_reference"),
                           ("disk per simulated day", "disk_per_sim_day"),
                           ("live data per simulated day", "live_per_sim_day")):  # fmt: skip
            measured = [w for w in judged if not math.isnan(getattr(w, attr))]  # a window may have no such figure
            if len(measured) < 2:
                out.append((f"{name}: measured in fewer than two windows after the warm-up", None))
                continue
            first, last = measured[0], measured[-1]
            text, ok = trend(getattr(first, attr), getattr(last, attr))
            out.append((f"{name}: window {last.index} is {text} window {first.index}'s (target <= {TREND_TARGET}x)",
                        ok))  # fmt: skip
    after = gold_files_after_maintenance(s)
    if not after:
        out.append(("files per gold table after maintenance: no maintenance run finished before the last probe", None))
    else:
        worst = max(n for _, n in after)
        out.append((f"files per gold table after each of {len(after)} maintenance runs: at most {worst} "
                    f"(target <= {GOLD_FILES_TARGET})", worst <= GOLD_FILES_TARGET))  # fmt: skip
    return out


def _cell(value: float, fmt: str, unit: str) -> str:
    return "-" if math.isnan(value) else format(value, fmt) + unit


def report_lines(s: Soak, ws: list[Window]) -> list[str]:
    lines = [f"{'window':>6} {'min':>9} {'sim days':>8} {'round p95':>9} {'fresh p95':>9} {'query p95':>10} "
             f"{'frozen p95':>10} "
             f"{'gold files':>12} {'max files':>9} {'disk/sim day':>12} {'live/sim day':>12}  "
             "disk per layer; peak memory"]  # fmt: skip
    for w in ws:
        files = "/".join(str(n) for _, n in sorted(w.gold_files.items())) or "-"
        disk = ", ".join(f"{k} {mib(v)}" for k, v in w.layer_bytes.items())
        memory = ", ".join(f"{k} {mib(v)}" for k, v in w.memory.items())
        per_day = "-" if math.isnan(w.disk_per_sim_day) else mib(w.disk_per_sim_day)
        live = "-" if math.isnan(w.live_per_sim_day) else mib(w.live_per_sim_day)
        lines.append(f"{w.index:>6} {(w.start - s.t0) / 60:>4.0f}-{(w.end - s.t0) / 60:<4.0f} {w.sim_days:>8.2f} "
                     f"{_cell(w.round_p95, '.1f', ' s'):>9} {_cell(w.freshness_p95, '.1f', ' s'):>9} "
                     f"{_cell(w.query_p95, '.1f', ' ms'):>10} {_cell(w.reference_p95, '.1f', ' ms'):>10} "
                     f"{files:>12} {w.max_files:>9} {per_day:>12} {live:>12}  "
                     f"{disk}; {memory}")  # fmt: skip
    return lines


def slowest_queries(s: Soak, ws: list[Window], count: int = 5) -> list[str]:
    """The `count` queries slowest at p95 in the last window after warm-up, beside their p95 in the first window after
    warm-up and on the frozen copy in the last window: which query grew."""
    judged = _judged(s, ws)
    if len(judged) < 2:
        return []
    first, last = judged[0], judged[-1]

    def per_query(w: Window, attr: str) -> dict[str, float]:
        times: dict[str, list[float]] = {}
        for p in _probes_in(s, w.start, w.end, last=w is ws[-1]):
            for name, ms in zip(p.query_names, getattr(p, attr), strict=False):
                times.setdefault(name, []).append(ms)
        return {name: _p95(values) for name, values in times.items()}

    now, then, frozen = per_query(last, "query_ms"), per_query(first, "query_ms"), per_query(last, "reference_ms")
    lines = [f"slowest queries at p95 in window {last.index}, beside window {first.index} and the frozen copy in "
             f"window {last.index}:"]  # fmt: skip
    for name in sorted(now, key=now.__getitem__, reverse=True)[:count]:
        cells = [_cell(figures.get(name, math.nan), ".1f", " ms") for figures in (now, then, frozen)]
        lines.append(f"  {name:<44} " + " ".join(f"{c:>10}" for c in cells))
    return lines


def verdict_lines(checks: list[tuple[str, bool | None]]) -> list[str]:
    word = {True: "met", False: "MISSED", None: "NOT JUDGED"}
    return [f"{word[ok]}: {what}" for what, ok in checks]


def result_line(s: Soak, ws: list[Window]) -> str:
    judged = _judged(s, ws) or ws
    first, last = judged[0], judged[-1]
    figures = {"freshness_p95_first_s": first.freshness_p95, "freshness_p95_last_s": last.freshness_p95,
               "query_p95_first_s": first.query_p95 / 1000, "query_p95_last_s": last.query_p95 / 1000,
               "query_vs_frozen_first": first.query_vs_reference, "query_vs_frozen_last": last.query_vs_reference,
               "round_p95_last_s": last.round_p95, "max_files_last": float(last.max_files),
               "disk_per_sim_day_last_mib": last.disk_per_sim_day / 1024 / 1024,
               "live_per_sim_day_last_mib": last.live_per_sim_day / 1024 / 1024}  # fmt: skip
    return "RESULT " + " ".join(f"{k}={v:.3f}" for k, v in figures.items())
