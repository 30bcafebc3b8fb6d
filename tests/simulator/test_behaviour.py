"""Resting heart rate computed for many members at once: the same readings however the members are grouped, none
during a workout, all inside the day."""

from __future__ import annotations

import numpy as np

from simulator.behaviour import DAY_SECONDS, RestingReadings, day_of, day_start, plan_member_day
from simulator.lanes import DayBuilder
from simulator.population import create_member, seeded_rng

START = day_start(day_of(1_764_000_000.0))


def resting_readings(block_samples: int, interval: float = 300.0) -> tuple[list, list]:
    """(readings per member, sessions per member) of 60 members' resting readings, computed in blocks of
    `block_samples` matrix cells."""
    builder = DayBuilder((1, 1, 1))
    rest = RestingReadings(START, interval, builder)
    rest.BLOCK_SAMPLES = block_samples
    members = [create_member(5, uid, START - 86_400 * 30, gyms=3) for uid in range(1, 61)]
    all_sessions = []
    for member in members:
        member.place((1, 1, 1))
        rng = seeded_rng(5, "day", member.user_id, day_of(START).toordinal())
        visits, sessions = plan_member_day(member, START, day_of(START).toordinal(), 3, rng)
        rest.add(member, 60.0, visits, sessions, np.random.default_rng(rng.getrandbits(64)))
        all_sessions.append(sessions)
    rest.flush()
    return builder.readings[0], all_sessions


def test_resting_readings_are_the_same_however_members_are_grouped():
    one_block, _ = resting_readings(10**9)
    small_blocks, _ = resting_readings(1000)  # about three members per block
    assert len(one_block) == len(small_blocks) == 60
    for (t1, r1, d1, k1), (t2, r2, d2, k2) in zip(one_block, small_blocks, strict=True):
        assert (d1, k1) == (d2, k2)
        assert np.array_equal(t1, t2) and np.array_equal(r1, r2)


def test_resting_readings_fall_inside_the_day_and_outside_workouts():
    readings, sessions = resting_readings(10**9, interval=60.0)
    assert sum(len(t) for t, *_ in readings) > 60 * 1000
    for (times, rates, _, _), member_sessions in zip(readings, sessions, strict=True):
        assert np.all((times >= START) & (times < START + DAY_SECONDS)) and np.all(np.diff(times) > 0)
        for s in member_sessions:
            assert not np.any((times >= s.start - 60.0) & (times <= s.stop))
        assert np.all((rates > 30) & (rates < 110))
