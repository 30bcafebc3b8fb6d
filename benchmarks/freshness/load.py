"""The stream freshness benchmark's load: the records one producer thread sends, paced by the wall clock, and the
members they belong to."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from core.settings import Settings
from simulator.records import BPM_FORMAT, WORKOUT_FORMAT

SessionKey = tuple[int, int, int]  # (user_id, workout_id, session_id)


@dataclass(frozen=True)
class Workload:
    """What the producer sends: per member a workout session of `session_seconds` every session+gap seconds
    (members staggered evenly), and heart-rate readings round-robin over the devices filling the rest of `rate`."""

    rate: float
    users: tuple[int, ...]
    devices: tuple[int, ...]  # devices[i] is the wristband of users[i]
    session_seconds: float
    gap_seconds: float

    @property
    def cycle(self) -> float:
        return self.session_seconds + self.gap_seconds

    @property
    def workout_rate(self) -> float:
        return 2 * len(self.users) / self.cycle

    @property
    def bpm_rate(self) -> float:
        return self.rate - self.workout_rate

    @property
    def readings_per_session(self) -> float:
        return self.bpm_rate / len(self.devices) * self.session_seconds

    def validate(self) -> Workload:
        if len(self.users) != len(self.devices) or not self.users:
            raise ValueError("every member needs exactly one device")
        if self.bpm_rate <= 0:
            raise ValueError(f"--rate {self.rate:g} leaves no room for readings: the workouts alone need "
                             f"{self.workout_rate:.0f}/s; use fewer --members or longer sessions")  # fmt: skip
        if self.readings_per_session < 3:
            raise ValueError(f"only {self.readings_per_session:.1f} readings per session at this rate; use fewer "
                             "--members or longer --session-seconds")  # fmt: skip
        return self


@dataclass(frozen=True)
class Record:
    """One record to produce: its event time, topic kind (`bpm` or `workout`), key, value, and for a stop record
    the session it completes."""

    time: float
    kind: str
    key: bytes
    value: bytes
    completes: SessionKey | None = None


class RecordBuilder:
    """The records due up to a wall-clock time, in event-time order; deterministic for a given start `t0`.

    Session n (over all members) starts at t0 + n * cycle / members for member n % members, as its workout
    n // members + 1, and stops session_seconds later; reading n is due at t0 + n / bpm_rate for device n % members.
    """

    def __init__(self, workload: Workload, t0: float) -> None:
        self.w = workload.validate()
        self.t0 = t0
        self.step = workload.cycle / len(workload.users)
        self.next_bpm = self.next_start = self.next_stop = 0

    def _workout(self, n: int, action: bytes, at: float) -> Record:
        members = len(self.w.users)
        user, workout = self.w.users[n % members], n // members + 1
        value = WORKOUT_FORMAT % (user, workout, 1, action, at)
        return Record(at, "workout", str(user).encode(), value, (user, workout, 1) if action == b"stop" else None)

    def due(self, now: float) -> list[Record]:
        out: list[Record] = []
        members = len(self.w.devices)
        while (at := self.t0 + self.next_bpm / self.w.bpm_rate) <= now:
            n = self.next_bpm
            device = self.w.devices[n % members]
            heartrate = 60.0 + (n * 7) % 120 + 0.5  # always valid (25..250)
            out.append(Record(at, "bpm", str(device).encode(), BPM_FORMAT % (device, at, heartrate)))
            self.next_bpm += 1
        while (at := self.t0 + self.next_start * self.step) <= now:
            out.append(self._workout(self.next_start, b"start", at))
            self.next_start += 1
        while (at := self.t0 + self.next_stop * self.step + self.w.session_seconds) <= now:
            out.append(self._workout(self.next_stop, b"stop", at))
            self.next_stop += 1
        out.sort(key=lambda r: r.time)
        return out


@dataclass
class Shared:
    """State the producer thread writes and the main thread reads (each dict entry is written once)."""

    stops: dict[SessionKey, float] = field(default_factory=dict)  # session -> wall time its stop was produced
    produced: list[tuple[float, int]] = field(default_factory=list)  # (wall time, records produced so far)
    errors: int = 0
    last_error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


def produce(settings: Settings, builder: RecordBuilder, until: float, stop: threading.Event, shared: Shared) -> None:
    """Send every record as the wall clock reaches it, until `until`, from this one thread."""
    from confluent_kafka import Producer

    from core.connections import confluent_kafka_config

    def on_delivery(err, _msg) -> None:
        if err is not None:
            shared.errors += 1
            shared.last_error = str(err)

    producer = Producer({**confluent_kafka_config(settings), "acks": "all", "enable.idempotence": True,
                         "linger.ms": 5, "compression.type": "none", "queue.buffering.max.messages": 1_000_000,
                         "delivery.report.only.error": True, "on_delivery": on_delivery})  # fmt: skip
    topics = {"bpm": settings.topic("bpm"), "workout": settings.topic("workout")}
    sent, last_mark = 0, 0.0
    try:
        while not stop.is_set():
            now = time.time()
            for record in builder.due(min(now, until)):
                while True:
                    try:
                        producer.produce(topics[record.kind], value=record.value, key=record.key)
                        break
                    except BufferError:
                        producer.poll(0.05)
                if record.completes is not None:
                    shared.stops[record.completes] = time.time()
                sent += 1
            producer.poll(0)
            if now - last_mark >= 1.0 or now >= until:
                shared.produced.append((now, sent))
                last_mark = now
            if now >= until:
                break
            stop.wait(0.005)
    finally:
        producer.flush(60)
        shared.produced.append((time.time(), sent))
        shared.done.set()


def register_members(settings: Settings, members: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Write `members` registrations (with their profiles) into the source database; (user ids, device ids)."""
    from simulator.config import SimulatorConfig
    from simulator.engine import Simulation
    from simulator.source_db import open_source_db, write_changes

    conn = open_source_db(settings.source_db_path)
    try:
        sim = Simulation(SimulatorConfig(members=members, seed=7), conn, time.time())
        write_changes(conn, sim.setup_changes)
    finally:
        conn.close()
    return tuple(m.user_id for m in sim.members), tuple(m.device_id for m in sim.members)
