"""Record encoders: the fast heart-rate encoder writes exactly the bytes of the reference format, valid per contract."""

from __future__ import annotations

import json

import numpy as np

from simulator.records import BPM, BPM_FORMAT, bpm_lines, bpm_values, malformed_reason


def test_fast_bpm_encoder_matches_the_reference_format_over_every_digit_count():
    rng = np.random.default_rng(3)
    n = 20_000
    devices = np.concatenate([[0, 9, 10, 99, 100, 2**62], rng.integers(0, 10 ** rng.integers(1, 15, n), n)])
    ms = np.concatenate([[0, 999, 1000, 9_999_999_999_999, 12_345, 1], rng.integers(0, 10**13, n)])
    tenths = np.concatenate([[0, 9, 10, 99, 100, 12_345], rng.integers(0, 3000, n)])

    assert bpm_values(devices, ms, tenths) == bpm_lines(devices, ms, tenths)


def test_fast_bpm_encoder_gives_contract_values_of_a_simulated_day():
    devices = np.array([1_000_001, 1_000_002, 1_012_345], dtype=np.int64)
    ms = np.array([1_763_913_600_000, 1_763_913_605_250, 1_763_999_999_999], dtype=np.int64)
    tenths = np.array([583, 1204, 999], dtype=np.int64)

    values = bpm_values(devices, ms, tenths)
    readings = [(1_000_001, 1_763_913_600.0, 58.3), (1_000_002, 1_763_913_605.25, 120.4),
                (1_012_345, 1_763_999_999.999, 99.9)]  # fmt: skip
    assert values == [BPM_FORMAT % r for r in readings]
    assert all(malformed_reason(BPM, v) is None for v in values)
    assert json.loads(values[1]) == {"device_id": 1_000_002, "time": 1_763_913_605.25, "heartrate": 120.4}


def test_negative_numbers_fall_back_to_the_reference_format():
    devices, ms, tenths = (np.array([1, 2], dtype=np.int64), np.array([5, 7], dtype=np.int64),
                           np.array([-5, 7], dtype=np.int64))  # fmt: skip
    assert bpm_values(devices, ms, tenths) == bpm_lines(devices, ms, tenths)
    assert bpm_values(devices[:0], ms[:0], tenths[:0]) == []
