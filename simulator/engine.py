"""The two run modes over one deterministic day planner: `history` (as fast as possible) and `live` (clocked)."""

from __future__ import annotations

import gc
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from tqdm import tqdm

from core.settings import Settings
from simulator.behaviour import DAY_SECONDS, RestingReadings, day_of, day_range, day_start, member_day_records
from simulator.config import SimulatorConfig
from simulator.faults import FaultCounts, inject_record_faults
from simulator.kafka_sink import KafkaSink, check_broker
from simulator.lanes import DayBuilder, DayRecords, Lane, merged
from simulator.population import PROFILE_FIELDS, Member, changed_profile, create_member, seeded_rng
from simulator.records import TOPIC_NAMES, generic_value
from simulator.source_db import Change, SourceDb, load_population, open_source

log = logging.getLogger(__name__)

DELETE_PER_DAY = 1 / 2000  # account deletions per member per day
NEW_MEMBERS_PER_DAY = 0.002  # new registrations per existing member per day
SLICE_MS = 300_000  # history sends each topic's records in five-minute slices of emit time
FOREVER = 2.0**40  # epoch seconds beyond any simulated time (the year 36812)

# A source-database write due at a time: (time, sequence, change)
TimedChange = tuple[float, int, Change]


def profile_row(user_id: int, update_type: str, updated: float, profile: dict[str, str]) -> Change:
    return ("profile", (user_id, update_type, updated, *(profile.get(f) for f in PROFILE_FIELDS)))


@dataclass
class RunStats:
    """What a run sent: records per topic, source-database rows and injected faults."""

    records: Counter[str] = field(default_factory=Counter)
    registrations: int = 0
    profile_changes: int = 0
    faults: FaultCounts = field(default_factory=FaultCounts)

    @property
    def total(self) -> int:
        return sum(self.records.values())

    def count_changes(self, changes: list[Change]) -> None:
        for kind, _ in changes:
            if kind == "registration":
                self.registrations += 1
            else:
                self.profile_changes += 1

    def as_dict(self) -> dict[str, object]:
        records = {name: self.records[name] for name in TOPIC_NAMES}
        return {"records": records, "total": self.total, "registrations": self.registrations,
                "profile_changes": self.profile_changes, "faults": self.faults.as_dict()}  # fmt: skip


class Simulation:
    """The population and the day planner; the same seed, database content and days give the same output."""

    def __init__(self, config: SimulatorConfig, source: SourceDb | sqlite3.Connection, start: float,
                 partitions: tuple[int, int, int] = (1, 1, 1)) -> None:  # fmt: skip
        self.config = config
        self.partitions = partitions
        self.seed = config.seed
        self.gyms = config.gym_count
        self.members: list[Member] = []
        self.setup_changes: list[Change] = []  # rows registering the members created now; the caller writes them
        # a bare SQLite connection is what the benchmarks hand over
        population = load_population(source) if isinstance(source, sqlite3.Connection) else source.load_population()
        registrations, profiles = population
        for user_id, device_id, mac, registered in registrations:
            update_type, profile = profiles.get(user_id, ("new", None))
            member = create_member(self.seed, user_id, registered, self.gyms, profile, update_type != "delete",
                                   device_id, mac)  # fmt: skip
            member.place(partitions)
            self.members.append(member)
        self.next_user_id = max((m.user_id for m in self.members), default=0) + 1
        missing = config.members - len(self.members)
        if missing > 0:
            last = max((m.registration_timestamp for m in self.members), default=0.0)
            low = max(start - 365 * DAY_SECONDS, last + 1.0)
            step = max(0.0, start - 60.0 - low) / missing
            for i in range(missing):
                self.setup_changes += self.register(round(low + i * step, 3))
        log.info("population: %d members (%d new), %d gyms", len(self.members), max(0, missing), self.gyms)

    def register(self, at: float) -> list[Change]:
        """Register the next member at `at`: a registration row and a `new` profile row."""
        member = create_member(self.seed, self.next_user_id, at, self.gyms)
        member.place(self.partitions)
        self.next_user_id += 1
        self.members.append(member)
        return [("registration", (member.user_id, member.device_id, member.mac_address, at)),
                profile_row(member.user_id, "new", at, member.profile)]  # fmt: skip

    def plan_day(self, day: date, low: float = -FOREVER, high: float = FOREVER) -> tuple[DayRecords, list[TimedChange]]:
        """The records of one UTC day due in [low, high) epoch seconds, per topic partition in emit-time order, and
        every source-database change of the day (in write order). The whole day is simulated either way, so a
        window never changes the records in it."""
        cfg = self.config
        start = day_start(day)
        ordinal = day.toordinal()
        builder = DayBuilder(self.partitions)
        changes: list[TimedChange] = []
        rest = RestingReadings(start, cfg.rest_interval, builder) if cfg.rest_interval else None
        ooo_rng = seeded_rng(self.seed, "ooo", ordinal)
        for member in list(self.members):
            if not member.active or member.registration_timestamp >= start:
                continue
            rng = seeded_rng(self.seed, "day", member.user_id, ordinal)
            member_day_records(member, start, ordinal, self.gyms, cfg.bpm_interval, rng, builder, rest)
            draw = rng.random()
            if draw >= cfg.profile_update_rate + DELETE_PER_DAY:
                continue
            at = round(start + rng.uniform(0.0, DAY_SECONDS), 3)
            if draw < DELETE_PER_DAY:
                changes.append((at, len(changes), profile_row(member.user_id, "delete", at, member.profile)))
                member.active = False
                continue
            old = member.profile
            member.profile = changed_profile(old, rng)
            changes.append((at, len(changes), profile_row(member.user_id, "update", at, member.profile)))
            if cfg.faults.ooo_profile_rate and ooo_rng.random() < cfg.faults.ooo_profile_rate:
                stale = round(at - ooo_rng.uniform(3600.0, 3 * DAY_SECONDS), 3)
                changes.append((at, len(changes), profile_row(member.user_id, "update", stale, old)))
        reg_rng = seeded_rng(self.seed, "registrations", ordinal)
        expected = len(self.members) * NEW_MEMBERS_PER_DAY
        count = int(expected) + (reg_rng.random() < expected - int(expected))
        for at in sorted(round(start + reg_rng.uniform(0.0, DAY_SECONDS), 3) for _ in range(count)):
            for change in self.register(at):
                changes.append((at, len(changes), change))
        changes.sort(key=lambda c: (c[0], c[1]))
        if rest is not None:
            rest.flush()
        return builder.build(int(low * 1000), int(high * 1000)), changes

    def faulty(self, records: DayRecords, day: date, stats: RunStats) -> DayRecords:
        """The day's records with the configured faults injected (unchanged when fault injection is off)."""
        if not self.config.faults.any_record_fault:
            return records
        rng = seeded_rng(self.seed, "faults", day.toordinal())
        return inject_record_faults(records, self.config.faults, rng, stats.faults)

    def encoded(self, records: DayRecords, day: date) -> DayRecords:
        """The day's records with each value in the configured encoding (the encoders write compact values)."""
        if self.config.encoding == "compact":
            return records
        rng = seeded_rng(self.seed, "encoding", day.toordinal())
        bpm, workout, gym = ([Lane(lane.ms, lane.keys, [generic_value(topic, v, rng) for v in lane.values])
                              for lane in lanes] for topic, lanes in enumerate(records))  # fmt: skip
        return bpm, workout, gym


def count_ooo(changes: list[TimedChange], stats: RunStats) -> None:
    stats.faults.ooo_profile += sum(1 for at, _, (kind, row) in changes if kind == "profile" and row[2] < at)


class Sender:
    """Sends each lane's records in emit-time order up to a point in time, remembering how far it got."""

    def __init__(self, sink: KafkaSink, stats: RunStats, event_timestamps: bool) -> None:
        self.sink, self.stats, self.event_timestamps = sink, stats, event_timestamps
        self.lanes: dict[tuple[int, int], Lane] = {}  # (topic, partition) -> lane
        self.positions: dict[tuple[int, int], int] = {}

    def extend(self, fresh: DayRecords) -> None:
        """Add a day's lanes to what is still unsent."""
        for topic, lanes in enumerate(fresh):
            for part, lane in enumerate(lanes):
                pending = self.lanes.get((topic, part), Lane()).tail(self.positions.get((topic, part), 0))
                self.lanes[topic, part] = merged(pending, lane)
                self.positions[topic, part] = 0

    def send_until(self, until_ms: int) -> int:
        """Produce every record due before `until_ms`; return how many."""
        sent = 0
        for (topic, part), lane in self.lanes.items():
            pos = self.positions[topic, part]
            end = lane.position(until_ms, pos)
            if end > pos:
                if self.event_timestamps:
                    self.sink.produce_each(topic, part, lane.slice(pos, end))
                else:
                    self.sink.produce_batch(topic, part, lane.slice(pos, end))
                self.stats.records[TOPIC_NAMES[topic]] += end - pos
                self.positions[topic, part] = end
                sent += end - pos
        return sent

    def next_due_ms(self) -> int | None:
        due = [int(lane.ms[self.positions[k]]) for k, lane in self.lanes.items() if self.positions[k] < len(lane)]
        return min(due) if due else None


def open_run(settings: Settings, config: SimulatorConfig,
             tuning: dict[str, object] | None = None) -> tuple[SourceDb, KafkaSink]:  # fmt: skip
    """Validate configuration, the database and the broker before anything is produced."""
    config.validate()
    source = open_source(settings)
    try:
        partitions = check_broker(settings)
    except Exception:
        source.close()
        raise
    return source, KafkaSink(settings, partitions, tuning)


def run_history(settings: Settings, config: SimulatorConfig, days: float, end: float | None = None,
                progress: bool = True, stop: threading.Event | None = None,
                event_timestamps: bool = False, tuning: dict[str, object] | None = None) -> RunStats:  # fmt: skip
    """Generate `days` days of past data ending at `end` (default now) as fast as possible, then flush.

    Kafka timestamps are the produce time, unless `event_timestamps`: then each record's simulated send time, as if
    it had streamed in back then (slower: one produce call per record instead of batches). `tuning` overrides
    producer settings (benchmarks).
    """
    source, sink = open_run(settings, config, tuning)
    stop = stop or threading.Event()
    end = time.time() if end is None else end
    start = end - days * DAY_SECONDS
    stats = RunStats()
    sender = Sender(sink, stats, event_timestamps)
    began = time.monotonic()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of short-lived acyclic dicts: cyclic GC passes would only cost time
    try:
        sim = Simulation(config, source, start, sink.partitions)
        source.write_changes(sim.setup_changes)
        stats.count_changes(sim.setup_changes)
        days_list = day_range(day_of(start), day_of(end - 1e-3))
        with tqdm(total=len(days_list), unit="day", disable=not progress, desc="history") as bar:
            for day in days_list:
                records, changes = sim.plan_day(day, start, end)
                due = [c for c in changes if c[0] < end]
                source.write_changes([c for _, _, c in due])
                stats.count_changes([c for _, _, c in due])
                count_ooo(due, stats)
                sender.extend(sim.encoded(sim.faulty(records, day, stats), day))
                day_end_ms = int(min(day_start(day) + DAY_SECONDS, end) * 1000)
                for until in range(int(day_start(day) * 1000) + SLICE_MS, day_end_ms + SLICE_MS, SLICE_MS):
                    if stop.is_set():
                        break
                    sender.send_until(min(until, day_end_ms))
                bar.update(1)
                bar.set_postfix(records=stats.total, rate=f"{stats.total / (time.monotonic() - began):,.0f}/s")
                if stop.is_set():
                    break
            if not stop.is_set():
                sender.send_until(2**62)  # late records due after the end
    finally:
        if gc_was_enabled:
            gc.enable()
        sink.flush()
        source.close()
    if sink.errors:
        log.error("%d records failed delivery; last error: %s", sink.errors, sink.last_error)
    log.info("history: %d records in %.1fs", stats.total, time.monotonic() - began)
    return stats


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def run_live(settings: Settings, config: SimulatorConfig, speed: float = 1.0, duration: float | None = None,
             stop: threading.Event | None = None, report: Callable[[dict[str, object]], None] | None = None,
             report_every: float = 1.0) -> RunStats:  # fmt: skip
    """Emit records as the simulated clock (now, `speed` times faster) reaches them, until `stop` or `duration`."""
    source, sink = open_run(settings, config)
    stop = stop or threading.Event()
    stats = RunStats()
    started = time.time()
    mono0 = time.monotonic()
    try:
        sim = Simulation(config, source, started, sink.partitions)
        source.write_changes(sim.setup_changes)
        stats.count_changes(sim.setup_changes)
    except Exception:
        source.close()
        raise

    def sim_now() -> float:
        return started + (time.monotonic() - mono0) * speed

    def snapshot(running: bool, rate: float) -> dict[str, object]:
        return {"running": running, "status": "running" if running else "stopped", "mode": "live",
                "started_at": iso(started), "updated_at": iso(time.time()), "sim_time": iso(sim_now()),
                "speed": speed, "members": config.members, "seed": config.seed, "events_sent": stats.total,
                "events_delivered": sink.delivered, "errors": sink.errors, "last_error": sink.last_error,
                "rate": round(rate, 1), **stats.as_dict()}  # fmt: skip

    day = day_of(started)
    sender = Sender(sink, stats, event_timestamps=False)
    changes: list[TimedChange] = []
    horizon = started
    cpos = 0
    last_report, last_total = time.monotonic(), 0
    try:
        while not stop.is_set() and (duration is None or time.monotonic() - mono0 < duration):
            now = sim_now()
            if now >= horizon:
                records, new_changes = sim.plan_day(day, low=started)
                new_changes = [c for c in new_changes if c[0] >= started]
                count_ooo(new_changes, stats)
                sender.extend(sim.encoded(sim.faulty(records, day, stats), day))
                changes, cpos = changes[cpos:] + new_changes, 0
                horizon = day_start(day) + DAY_SECONDS
                day = day_of(horizon)
            sender.send_until(int(now * 1000) + 1)
            cend = cpos
            while cend < len(changes) and changes[cend][0] <= now:
                cend += 1
            if cend > cpos:
                source.write_changes([c for _, _, c in changes[cpos:cend]])
                stats.count_changes([c for _, _, c in changes[cpos:cend]])
                cpos = cend
            sink.producer.poll(0)
            tick = time.monotonic()
            if report and tick - last_report >= report_every:
                report(snapshot(True, (stats.total - last_total) / (tick - last_report)))
                last_report, last_total = tick, stats.total
            due_ms = sender.next_due_ms()
            next_due = min(due_ms / 1000 if due_ms is not None else horizon,
                           changes[cpos][0] if cpos < len(changes) else horizon, horizon)  # fmt: skip
            stop.wait(min(0.2, max(0.0, (next_due - sim_now()) / speed)))
    finally:
        sink.flush()
        source.close()
        if report:
            report(snapshot(False, stats.total / max(1e-9, time.monotonic() - mono0)))  # final: the average rate
    return stats
