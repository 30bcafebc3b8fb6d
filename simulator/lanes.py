"""Encoded records per (topic, partition) "lane", in emit-time order, with the emit times in a numpy array.

Heart-rate readings, by far the most numerous records, are collected as arrays for a whole day and encoded in
bulk: one argsort and one `%` format over all of a lane's readings, so the per-record Python work is one small dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter

import numpy as np

from simulator.records import BPM, BPM_LINE, GYM, WORKOUT

# What Producer.produce_batch takes: {"key": bytes, "value": bytes}
Record = dict[str, bytes]
_EMPTY = np.empty(0, dtype=np.int64)


@dataclass
class Lane:
    """Records of one topic partition and their emit times (ms), both in ascending time order."""

    ms: np.ndarray = field(default_factory=lambda: _EMPTY)
    records: list[Record] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def position(self, until_ms: int, start: int = 0) -> int:
        """Index of the first record due at or after `until_ms` (searching from `start`)."""
        return start + int(np.searchsorted(self.ms[start:], until_ms, side="left"))

    def tail(self, start: int) -> Lane:
        return Lane(self.ms[start:], self.records[start:])

    def window(self, low_ms: int, high_ms: int) -> Lane:
        """The records due in [low_ms, high_ms)."""
        i, j = self.position(low_ms), self.position(high_ms)
        return self if (i, j) == (0, len(self)) else Lane(self.ms[i:j], self.records[i:j])


# Lanes per topic (BPM, WORKOUT, GYM), then per partition
DayRecords = tuple[list[Lane], list[Lane], list[Lane]]


def reorder(records: list[Record], order: np.ndarray) -> list[Record]:
    if len(order) == 0:
        return []
    if len(order) == 1:
        return [records[int(order[0])]]
    return list(itemgetter(*order.tolist())(records))


def sorted_lane(ms: list[int] | np.ndarray, records: list[Record]) -> Lane:
    """A lane from records in any order (stable for equal times)."""
    stamps = np.asarray(ms, dtype=np.int64)
    if len(stamps) > 1 and np.any(stamps[1:] < stamps[:-1]):
        order = np.argsort(stamps, kind="stable")
        return Lane(stamps[order], reorder(records, order))
    return Lane(stamps, list(records))


def merged(first: Lane, second: Lane) -> Lane:
    if not len(first):
        return second
    if not len(second):
        return first
    return sorted_lane(np.concatenate((first.ms, second.ms)), first.records + second.records)


class DayBuilder:
    """Collects one day's readings and events per topic partition, then encodes and orders them in bulk."""

    def __init__(self, partitions: tuple[int, int, int]) -> None:
        self.readings: list[list[tuple[np.ndarray, np.ndarray, int]]] = [[] for _ in range(partitions[BPM])]
        self.device_keys: dict[int, bytes] = {}
        self.events: dict[int, list[list[tuple[int, bytes, bytes]]]] = {
            WORKOUT: [[] for _ in range(partitions[WORKOUT])],
            GYM: [[] for _ in range(partitions[GYM])],
        }

    def add_readings(self, partition: int, device_id: int, key: bytes, times: np.ndarray, rates: np.ndarray) -> None:
        if len(times):
            self.readings[partition].append((times, rates, device_id))
            self.device_keys[device_id] = key

    def add_event(self, topic: int, partition: int, at: float, key: bytes, value: bytes) -> None:
        self.events[topic][partition].append((round(at * 1000), key, value))

    def build(self) -> DayRecords:
        bpm = [self._bpm_lane(chunks) for chunks in self.readings]
        workout, gym = ([self._event_lane(items) for items in self.events[topic]] for topic in (WORKOUT, GYM))
        return bpm, workout, gym

    def _bpm_lane(self, chunks: list[tuple[np.ndarray, np.ndarray, int]]) -> Lane:
        if not chunks:
            return Lane()
        ms = np.round(np.concatenate([c[0] for c in chunks]) * 1000.0).astype(np.int64)
        tenths = np.round(np.concatenate([c[1] for c in chunks]) * 10.0).astype(np.int64)
        devices = np.concatenate([np.full(len(c[0]), c[2], dtype=np.int64) for c in chunks])
        order = np.argsort(ms, kind="stable")
        ms, tenths, devices = ms[order], tenths[order], devices[order]
        fields = np.stack((devices, *np.divmod(ms, 1000), *np.divmod(tenths, 10)), axis=1).ravel().tolist()
        values = (BPM_LINE * len(ms) % tuple(fields)).split(b"\n")
        values.pop()
        keys = map(self.device_keys.__getitem__, devices.tolist())
        return Lane(ms, [{"key": k, "value": v} for k, v in zip(keys, values, strict=True)])

    @staticmethod
    def _event_lane(items: list[tuple[int, bytes, bytes]]) -> Lane:
        items.sort(key=itemgetter(0))
        return Lane(np.array([i[0] for i in items], dtype=np.int64), [{"key": k, "value": v} for _, k, v in items])
