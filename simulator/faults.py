"""Fault injection on encoded records: duplicates, late arrivals, malformed values and heart-rate outliers."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field

from simulator.config import FaultConfig
from simulator.lanes import DayRecords, Lane, sorted_lane
from simulator.records import BPM, MALFORMED_KINDS, bpm_value, malformed_value

OUTLIER_RATES = (0.0, 300.0)


@dataclass
class FaultCounts:
    """How many faults of each kind a run injected, so tests and reports can compare with what landed."""

    duplicates: int = 0
    late: int = 0
    outliers: int = 0
    ooo_profile: int = 0
    malformed: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {"duplicates": self.duplicates, "late": self.late, "outliers": self.outliers,
                "ooo_profile": self.ooo_profile, "malformed": dict(self.malformed)}  # fmt: skip


def inject_record_faults(records: DayRecords, faults: FaultConfig, rng: random.Random,
                         counts: FaultCounts) -> DayRecords:  # fmt: skip
    """New lanes with faults applied; each rate is per original record, drawn independently.

    A late record keeps its event time in the value but is sent up to `late_max_minutes` later; a duplicate is
    sent again within seconds; a malformed record is an extra, broken copy; an outlier replaces the heart rate.
    """
    rand = rng.random
    late_ms = faults.late_max_minutes * 60_000.0
    result: list[list[Lane]] = []
    for topic, lanes in enumerate(records):
        kinds, turn = MALFORMED_KINDS[topic], 0  # kinds take turns, so each appears at rate / len(kinds)
        result.append([])
        for lane in lanes:
            stamps: list[int] = []
            keys: list[bytes] = []
            values: list[bytes] = []
            for at, key, value in zip(lane.ms.tolist(), lane.keys, lane.values, strict=True):
                if faults.outlier_rate and topic == BPM and rand() < faults.outlier_rate:
                    reading = json.loads(value)
                    value = bpm_value(reading["device_id"], reading["time"], rng.choice(OUTLIER_RATES))
                    counts.outliers += 1
                if faults.late_rate and rand() < faults.late_rate:
                    at += int(rng.uniform(min(60_000.0, late_ms), late_ms))
                    counts.late += 1
                stamps.append(at)
                keys.append(key)
                values.append(value)
                if faults.dup_rate and rand() < faults.dup_rate:
                    stamps.append(at + rng.randrange(5000))
                    keys.append(key)
                    values.append(value)
                    counts.duplicates += 1
                if faults.malformed_rate and rand() < faults.malformed_rate:
                    kind, turn = kinds[turn % len(kinds)], turn + 1
                    stamps.append(at)
                    keys.append(key)
                    values.append(malformed_value(topic, value, kind, rng))
                    counts.malformed[kind] += 1
            result[topic].append(sorted_lane(stamps, keys, values))
    return result[0], result[1], result[2]
