"""Encoded records per (topic, partition) "lane", in emit-time order, with the emit times in a numpy array.

Heart-rate readings, by far the most numerous records, are collected as arrays for a whole day, ordered with one
argsort and encoded in bulk with numpy (`records.bpm_values`), and only those inside the run's time window. A lane
keeps keys and values as two lists; the sink puts them in the dicts `Producer.produce_batch` takes only when it
sends them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter

import numpy as np

from simulator.records import BPM, GYM, WORKOUT, bpm_values

# What Producer.produce_batch takes: {"key": bytes, "value": bytes}
Record = dict[str, bytes]
_EMPTY = np.empty(0, dtype=np.int64)
_EMPTY_FLOAT = np.empty(0, dtype=np.float64)


@dataclass
class Lane:
    """Records of one topic partition (keys and values) and their emit times (ms), all in ascending time order."""

    ms: np.ndarray = field(default_factory=lambda: _EMPTY)
    keys: list[bytes] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values)

    def position(self, until_ms: int, start: int = 0) -> int:
        """Index of the first record due at or after `until_ms` (searching from `start`)."""
        return start + int(np.searchsorted(self.ms[start:], until_ms, side="left"))

    def tail(self, start: int) -> Lane:
        return self.slice(start, len(self))

    def slice(self, start: int, end: int) -> Lane:
        return Lane(self.ms[start:end], self.keys[start:end], self.values[start:end])


# Lanes per topic (BPM, WORKOUT, GYM), then per partition
DayRecords = tuple[list[Lane], list[Lane], list[Lane]]


def reorder(items: list[bytes], order: np.ndarray) -> list[bytes]:
    if len(order) == 0:
        return []
    if len(order) == 1:
        return [items[int(order[0])]]
    return list(itemgetter(*order.tolist())(items))


def sorted_lane(ms: list[int] | np.ndarray, keys: list[bytes], values: list[bytes]) -> Lane:
    """A lane from records in any order (stable for equal times)."""
    stamps = np.asarray(ms, dtype=np.int64)
    if len(stamps) > 1 and np.any(stamps[1:] < stamps[:-1]):
        order = np.argsort(stamps, kind="stable")
        return Lane(stamps[order], reorder(keys, order), reorder(values, order))
    return Lane(stamps, list(keys), list(values))


def merged(first: Lane, second: Lane) -> Lane:
    if not len(first):
        return second
    if not len(second):
        return first
    return sorted_lane(np.concatenate((first.ms, second.ms)), first.keys + second.keys, first.values + second.values)


class DayBuilder:
    """Collects one day's readings and events per topic partition, then encodes and orders them in bulk."""

    def __init__(self, partitions: tuple[int, int, int]) -> None:
        # per BPM partition: (times, rates, device_id, key) of one member's session or resting readings
        self.readings: list[list[tuple[np.ndarray, np.ndarray, int, bytes]]] = [[] for _ in range(partitions[BPM])]
        self.events: dict[int, list[list[tuple[int, bytes, bytes]]]] = {
            WORKOUT: [[] for _ in range(partitions[WORKOUT])],
            GYM: [[] for _ in range(partitions[GYM])],
        }

    def add_readings(self, partition: int, device_id: int, key: bytes, times: np.ndarray, rates: np.ndarray) -> None:
        if len(times):
            self.readings[partition].append((times, rates, device_id, key))

    def reserve_readings(self, partition: int, device_id: int, key: bytes) -> tuple[int, int]:
        """A place for readings computed later (`fill_readings`), so they keep their order among the others."""
        self.readings[partition].append((_EMPTY_FLOAT, _EMPTY_FLOAT, device_id, key))
        return partition, len(self.readings[partition]) - 1

    def fill_readings(self, slot: tuple[int, int], times: np.ndarray, rates: np.ndarray) -> None:
        partition, index = slot
        _, _, device_id, key = self.readings[partition][index]
        self.readings[partition][index] = (times, rates, device_id, key)

    def add_event(self, topic: int, partition: int, at: float, key: bytes, value: bytes) -> None:
        self.events[topic][partition].append((round(at * 1000), key, value))

    def build(self, low_ms: int = -(2**62), high_ms: int = 2**62) -> DayRecords:
        """The day's lanes, holding only the records due in [low_ms, high_ms); the others are never encoded."""
        bpm = [self._bpm_lane(chunks, low_ms, high_ms) for chunks in self.readings]
        workout, gym = ([self._event_lane(items, low_ms, high_ms) for items in self.events[topic]]
                        for topic in (WORKOUT, GYM))  # fmt: skip
        return bpm, workout, gym

    @staticmethod
    def _bpm_lane(chunks: list[tuple[np.ndarray, np.ndarray, int, bytes]], low_ms: int, high_ms: int) -> Lane:
        if not chunks:
            return Lane()
        ms = np.round(np.concatenate([c[0] for c in chunks]) * 1000.0).astype(np.int64)
        inside = np.flatnonzero((ms >= low_ms) & (ms < high_ms))
        if not len(inside):
            return Lane()
        # the window's readings in time order; stable, so equal times keep the order they were added in
        order = inside[np.argsort(ms[inside], kind="stable")]
        ms = ms[order]
        tenths = np.round(np.concatenate([c[1] for c in chunks])[order] * 10.0).astype(np.int64)
        owner = np.repeat(np.arange(len(chunks)), [len(c[0]) for c in chunks])[order]
        keys = np.array([c[3] for c in chunks], dtype=object)[owner].tolist()
        devices = np.array([c[2] for c in chunks], dtype=np.int64)
        return Lane(ms, keys, bpm_values(devices, owner, ms, tenths))

    @staticmethod
    def _event_lane(items: list[tuple[int, bytes, bytes]], low_ms: int, high_ms: int) -> Lane:
        items.sort(key=itemgetter(0))
        ms = np.array([i[0] for i in items], dtype=np.int64)
        i, j = np.searchsorted(ms, (low_ms, high_ms), side="left").tolist()
        return Lane(ms[i:j], [k for _, k, _ in items[i:j]], [v for _, _, v in items[i:j]])
