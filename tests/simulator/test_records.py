"""Record encoders: the fast heart-rate encoder writes exactly the bytes of the reference format, valid per contract;
the generic encoding writes the same records as any JSON encoder might."""

from __future__ import annotations

import json
import random
import sqlite3

import numpy as np
import pytest

from core.contract import TOPIC_FIELDS, TOPICS
from simulator.behaviour import DAY_SECONDS, day_of
from simulator.config import ConfigError, SimulatorConfig
from simulator.engine import Simulation
from simulator.records import (
    BPM,
    BPM_FORMAT,
    MALFORMED_KINDS,
    WORKOUT,
    bpm_lines,
    bpm_values,
    generic_value,
    malformed_reason,
    malformed_value,
)
from simulator.source_db import SCHEMA

END = 1_764_000_000.0


def encode_both(device_ids, owner, ms, tenths):
    arrays = [np.asarray(x, dtype=np.int64) for x in (device_ids, owner, ms, tenths)]
    return bpm_values(*arrays), bpm_lines(arrays[0][arrays[1]], arrays[2], arrays[3])


def test_fast_bpm_encoder_matches_the_reference_format_on_a_day_of_readings():
    rng = np.random.default_rng(3)
    n = 50_000
    owner = rng.integers(0, 300, n)
    ms = np.sort(rng.integers(1_763_950_000_000, 1_764_050_000_000, n))  # crosses 1_764_000_000 s
    tenths = np.concatenate([[0, 9, 10, 99, 100, 999, 1000, 9999], rng.integers(250, 2100, n - 8)])

    fast, reference = encode_both(np.arange(1_000_001, 1_000_301), owner, ms, tenths)
    assert fast == reference


@pytest.mark.parametrize(
    "device_ids, ms, tenths",
    [([7, 8], [100_000_000, 99_999_999], [583, 584]),  # unordered times across a 100000 s boundary
     ([7, 8], [5_000, 99_999_999], [583, 584]),  # times before 1970-01-02
     ([7, 12], [1_763_913_600_000, 1_763_913_600_001], [583, 584]),  # devices of different digit counts
     ([-7, 8], [1_763_913_600_000, 1_763_913_600_001], [583, 584]),  # a negative device id
     ([7, 8], [1_763_913_600_000, 1_763_913_600_001], [-5, 10_000]),  # heart rates outside 0..999.9
     ([2**62, 2**62 + 1], [9_999_999_999_999, 0], [12_345, 7])],
)  # fmt: skip
def test_fast_bpm_encoder_matches_the_reference_format_on_unusual_numbers(device_ids, ms, tenths):
    fast, reference = encode_both(device_ids, [0, 1], ms, tenths)
    assert fast == reference


def test_fast_bpm_encoder_gives_contract_values():
    readings = [(1_000_001, 1_763_913_600.0, 58.3), (1_000_002, 1_763_913_605.25, 120.4),
                (1_012_345, 1_763_999_999.999, 99.9)]  # fmt: skip
    fast, _ = encode_both([r[0] for r in readings], [0, 1, 2], [round(r[1] * 1000) for r in readings],
                          [round(r[2] * 10) for r in readings])  # fmt: skip

    assert fast == [BPM_FORMAT % r for r in readings]
    assert all(malformed_reason(BPM, v) is None for v in fast)
    assert json.loads(fast[1]) == {"device_id": 1_000_002, "time": 1_763_913_605.25, "heartrate": 120.4}
    assert bpm_values(*(np.empty(0, dtype=np.int64) for _ in range(4))) == []


def simulated_day(encoding: str) -> list[list[bytes]]:
    """One day of 60 members' record values per topic, planned in memory in the given encoding."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    sim = Simulation(SimulatorConfig(members=60, seed=5, encoding=encoding), conn, END - DAY_SECONDS)
    records, _ = sim.plan_day(day_of(END - DAY_SECONDS))
    return [[v for lane in lanes for v in lane.values] for lanes in sim.encoded(records, day_of(END - DAY_SECONDS))]


def test_generic_encoding_writes_each_record_as_a_json_encoder_would():
    """The same records as the compact encoding, each a JSON object with the contract's fields in some order among
    extra members, with spaces; every value is valid per the contract's checker."""
    compact, generic = simulated_day("compact"), simulated_day("generic")
    assert generic == simulated_day("generic")  # seeded: the same run gives the same bytes
    for topic, (compact_values, generic_values) in enumerate(zip(compact, generic, strict=True)):
        fields = [name for name, _ in TOPIC_FIELDS[TOPICS[topic]]]
        assert len(generic_values) == len(compact_values) > 0
        orders = set()
        for compact_value, value in zip(compact_values, generic_values, strict=True):
            record = json.loads(value)
            assert malformed_reason(topic, value) is None
            assert {name: record[name] for name in fields} == json.loads(compact_value)
            assert set(record) - set(fields) and b'": ' in value
            orders.add(tuple(name for name in record if name in fields))
        assert len(orders) > 1


def test_generic_encoding_keeps_a_malformed_value_malformed():
    rng = random.Random(3)
    value = b'{"user_id":1,"workout_id":2,"session_id":3,"action":"start","time":1764115200.5}'
    for kind in MALFORMED_KINDS[WORKOUT]:
        broken = malformed_value(WORKOUT, value, kind, rng)
        assert malformed_reason(WORKOUT, generic_value(WORKOUT, broken, rng)) == kind
    with pytest.raises(ConfigError, match="--encoding"):
        SimulatorConfig(encoding="xml").validate()
