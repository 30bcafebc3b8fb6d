"""Daily behaviour: gym visits, workouts and heart rate of each member, as encoded Kafka records for one UTC day."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from simulator.lanes import DayBuilder
from simulator.population import Member
from simulator.records import BPM, GYM, GYM_IN_FORMAT, GYM_OUT_FORMAT, WORKOUT, WORKOUT_FORMAT

DAY_SECONDS = 86_400.0


@dataclass(frozen=True)
class WorkoutKind:
    """How hard a kind of workout is (fraction of heart-rate reserve) and how its effort oscillates."""

    workout_id: int
    name: str
    intensity: float
    swing: float  # bpm amplitude of intervals/sets during the effort phase
    period: float  # seconds per interval/set


WORKOUT_KINDS = {
    1: WorkoutKind(1, "cardio", 0.65, 4.0, 300.0),
    2: WorkoutKind(2, "strength", 0.52, 10.0, 120.0),
    3: WorkoutKind(3, "hiit", 0.80, 14.0, 90.0),
    4: WorkoutKind(4, "cycling", 0.70, 5.0, 420.0),
    5: WorkoutKind(5, "running", 0.75, 4.0, 600.0),
    6: WorkoutKind(6, "yoga", 0.38, 3.0, 600.0),
}
GYM_WORKOUTS = ((1, 2, 3, 4, 6), (4, 4, 2, 2, 1))
OUTSIDE_WORKOUTS = ((5, 4, 6), (6, 2, 1))
PEAK_HOURS = {"morning": (7.0, 1.0), "lunch": (12.3, 0.7), "evening": (18.3, 1.3)}


@dataclass(frozen=True)
class Visit:
    gym: int
    login: float
    logout: float


@dataclass(frozen=True)
class Session:
    workout_id: int
    session_id: int
    start: float
    stop: float


def day_start(day: date) -> float:
    return datetime.combine(day, time(0), UTC).timestamp()


def day_of(ts: float) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


def visit_hour(member: Member, weekend: bool, rng: random.Random) -> float:
    """Hour of day a member walks in: peaks in the morning, at lunch and in the evening; weekends spread late."""
    if weekend and rng.random() < 0.7:
        hour = rng.gauss(10.5, 2.0)
    else:
        mean, sd = PEAK_HOURS[member.preference]
        hour = rng.gauss(mean, sd)
    return min(21.5, max(5.0, hour))


def plan_member_day(member: Member, start: float, ordinal: int, gyms: int, rng: random.Random
                    ) -> tuple[list[Visit], list[Session]]:  # fmt: skip
    """A member's gym visits and workout sessions in the day that begins at `start` (epoch seconds)."""
    weekend = date.fromordinal(ordinal).weekday() >= 5
    visits: list[Visit] = []
    sessions: list[Session] = []
    p_visit = min(0.95, member.visits_per_week / 7.0 * (0.7 if weekend else 1.12))
    if rng.random() < p_visit:
        login = start + visit_hour(member, weekend, rng) * 3600.0 + rng.uniform(0, 59)
        logout = login + min(150.0, max(25.0, rng.gauss(70.0, 20.0))) * 60.0
        gym = member.home_gym if rng.random() < 0.9 or gyms == 1 else rng.randint(1, gyms)
        visits.append(Visit(gym, round(login, 3), round(logout, 3)))
        if rng.random() < 0.92:
            begin = login + rng.uniform(3.0, 12.0) * 60.0
            for k in range(2 if rng.random() < 0.15 else 1):
                length = min(logout - 300.0 - begin, max(10.0, rng.gauss(45.0, 15.0)) * 60.0)
                if length < 600.0:
                    break
                kind = rng.choices(*GYM_WORKOUTS)[0]
                sessions.append(Session(kind, ordinal * 10 + k, round(begin, 3), round(begin + length, 3)))
                begin += length + rng.uniform(4.0, 10.0) * 60.0
    if member.outside_workouts_per_week and rng.random() < member.outside_workouts_per_week / 7.0:
        hour = rng.choice((6.5, 17.5, 19.0)) + rng.gauss(0, 0.7)
        begin = start + min(22.0, max(5.0, hour)) * 3600.0
        end = begin + max(15.0, rng.gauss(35.0, 10.0)) * 60.0
        if all(end < v.login or begin > v.logout for v in visits):
            kind = rng.choices(*OUTSIDE_WORKOUTS)[0]
            sessions.append(Session(kind, ordinal * 10 + 5, round(begin, 3), round(end, 3)))
    sessions.sort(key=lambda s: s.start)
    return visits, sessions


def session_heart_rate(member: Member, session: Session, resting: float, max_hr: float, interval: float,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Sample times and heart rates over a session: warm-up ramp, effort with intervals and drift, cool-down."""
    kind = WORKOUT_KINDS[session.workout_id]
    duration = session.stop - session.start
    intensity = min(0.95, kind.intensity + 0.12 * (member.fitness - 0.5) + rng.normal(0.0, 0.04))
    target = resting + intensity * (max_hr - resting)
    warm = min(600.0, 0.2 * duration)
    cool_from = duration - min(600.0, 0.2 * duration)
    drift = 2.5 / 3600.0 * (cool_from - warm)  # cardiac drift: a few beats per hour of effort
    x = np.arange(int(duration // interval) + 1) * interval
    base = np.interp(x, (0.0, warm, cool_from, duration), (resting + 15.0, target, target + drift, resting + 25.0))
    effort = (x >= warm) & (x <= cool_from)
    swing = kind.swing * np.sin(2.0 * np.pi / kind.period * x) * effort
    rates = np.minimum(base + swing + rng.normal(0.0, 2.0, len(x)), max_hr + 3.0)
    return session.start + x, rates


@dataclass
class _RestingDay:
    base: float  # time of the first sample slot: the day's start plus a random offset below the interval
    resting: float
    visits: list[Visit]
    sessions: list[Session]
    rng: np.random.Generator
    slot: tuple[int, int]


class RestingReadings:
    """Sparse readings outside workouts, lower at night, a little higher by day and inside the gym, for many
    member-days at once: each member's random draws come from its own generator in the usual order, and the
    arithmetic runs on one (members x samples) matrix instead of a dozen small numpy calls per member."""

    BLOCK_SAMPLES = 1_000_000  # matrix cells per block: bounds the temporaries to a few tens of MB

    def __init__(self, start: float, interval: float, out: DayBuilder) -> None:
        self.start, self.interval, self.out = start, interval, out
        self.grid = np.arange(int(DAY_SECONDS // interval) + 1) * interval
        self.pending: list[_RestingDay] = []

    def add(self, member: Member, resting: float, visits: list[Visit], sessions: list[Session],
            rng: np.random.Generator) -> None:  # fmt: skip
        slot = self.out.reserve_readings(member.partitions[BPM], member.device_id, member.key_device)
        self.pending.append(_RestingDay(self.start + rng.uniform(0.0, self.interval), resting, visits, sessions, rng,
                                        slot))  # fmt: skip
        if len(self.pending) * len(self.grid) >= self.BLOCK_SAMPLES:
            self.flush()

    def flush(self) -> None:
        """Compute the pending member-days and put their readings in their reserved places."""
        days, self.pending = self.pending, []
        if not days:
            return
        times = np.array([d.base for d in days])[:, None] + self.grid
        keep = times < self.start + DAY_SECONDS
        for k in range(max(len(d.sessions) for d in days)):  # no readings from just before a session to its end
            low = np.array([d.sessions[k].start - self.interval if k < len(d.sessions) else -np.inf for d in days])
            high = np.array([d.sessions[k].stop if k < len(d.sessions) else -np.inf for d in days])
            keep &= (times < low[:, None]) | (times > high[:, None])
        hour = (times - self.start) / 3600.0
        resting = np.array([d.resting for d in days])[:, None]
        level = np.where(hour < 6.0, resting - 5.0, resting + 3.0 * np.sin(np.pi * (hour - 6.0) / 18.0))
        for k in range(max(len(d.visits) for d in days)):
            login = np.array([d.visits[k].login if k < len(d.visits) else np.inf for d in days])
            logout = np.array([d.visits[k].logout if k < len(d.visits) else -np.inf for d in days])
            level += 12.0 * ((times >= login[:, None]) & (times <= logout[:, None]))
        counts = keep.sum(axis=1).tolist()
        noise = np.concatenate([d.rng.normal(0.0, 1.5, n) for d, n in zip(days, counts, strict=True)])
        times, rates = times[keep], level[keep] + noise
        ends = np.cumsum(counts).tolist()
        for d, begin, end in zip(days, [0, *ends], ends, strict=False):
            self.out.fill_readings(d.slot, times[begin:end], rates[begin:end])


def member_day_records(member: Member, start: float, ordinal: int, gyms: int, bpm_interval: float,
                       rng: random.Random, out: DayBuilder, rest: RestingReadings | None) -> None:  # fmt: skip
    """Add every Kafka record one member's wristband and gym doors send in one day to `out`; the resting
    readings (if `rest`) are computed in bulk by `rest`."""
    visits, sessions = plan_member_day(member, start, ordinal, gyms, rng)
    resting, max_hr = member.heart_rates(date.fromordinal(ordinal))
    nprng = np.random.default_rng(rng.getrandbits(64))
    mac, uid, device = member.key_mac, member.user_id, member.device_id
    part_bpm, part_workout, part_gym = member.partitions
    for v in visits:
        out.add_event(GYM, part_gym, v.login, mac, GYM_IN_FORMAT % (mac, v.gym, v.login))
        out.add_event(GYM, part_gym, v.logout, mac, GYM_OUT_FORMAT % (mac, v.gym, v.login, v.logout))
    for s in sessions:
        for action, at in ((b"start", s.start), (b"stop", s.stop)):
            value = WORKOUT_FORMAT % (uid, s.workout_id, s.session_id, action, at)
            out.add_event(WORKOUT, part_workout, at, member.key_user, value)
        times, rates = session_heart_rate(member, s, resting, max_hr, bpm_interval, nprng)
        out.add_readings(part_bpm, device, member.key_device, times, rates)
    if rest is not None:
        rest.add(member, resting, visits, sessions, nprng)


def day_range(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
