"""The stream pipeline's round loop: stopping (SIGTERM from `./dev down`) between the stages of a round, not after the
whole round, and pacing rounds one interval apart (no pause after a round longer than that). The stages here are
stand-ins that record their calls: this tests only the loop's control flow; the stages' own behaviour on Spark is
tested in test_stream.py and test_crash.py."""

from __future__ import annotations

import threading

import pytest

from pipeline import runner
from pipeline.streams import stop_between_batches


@pytest.mark.parametrize("stop_during", ["silver", "gold"])
def test_a_stop_asked_for_during_a_stage_ends_the_round_after_that_stage(monkeypatch, stop_during: str) -> None:
    stop = threading.Event()
    ran: list[str] = []

    def stage(lh, name: str, mode: str, func=None, record_empty: bool = True) -> int:
        ran.append(name)
        if name == stop_during:
            stop.set()
        return 0

    monkeypatch.setattr(runner, "setup", lambda lh, mode="batch": None)
    monkeypatch.setattr(runner, "run_stage", stage)
    runner.run_stream(object(), ("silver", "gold"), stop, interval_seconds=0)
    assert ran == ["silver", "gold"][: ["silver", "gold"].index(stop_during) + 1]


class _Rounds(threading.Event):
    """A stop event that records how long each pause between rounds was asked to be, and stops after `rounds`."""

    def __init__(self, rounds: int) -> None:
        super().__init__()
        self.rounds = rounds
        self.pauses: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(timeout)
        if len(self.pauses) == self.rounds:
            self.set()
        return self.is_set()


@pytest.mark.parametrize(("round_seconds", "pause"), [(0.5, 1.5), (2.0, 0.0), (7.0, 0.0)])
def test_the_next_round_starts_one_interval_after_the_last_began_or_at_once(monkeypatch, round_seconds: float,
                                                                           pause: float) -> None:  # fmt: skip
    clock = [100.0]  # a stand-in for time.monotonic: the stand-in stages move it, nothing sleeps
    stop = _Rounds(rounds=3)

    def stage(lh, name: str, mode: str, func=None, record_empty: bool = True) -> int:
        clock[0] += round_seconds / 2  # silver and gold take half the round each
        return 0

    monkeypatch.setattr(runner, "setup", lambda lh, mode="batch": None)
    monkeypatch.setattr(runner, "run_stage", stage)
    monkeypatch.setattr(runner.time, "monotonic", lambda: clock[0])
    runner.run_stream(object(), ("silver", "gold"), stop, interval_seconds=2.0)
    assert stop.pauses == [pytest.approx(pause)] * 3


class _Query:
    """A stand-in for the Kafka ingest's StreamingQuery: a micro-batch is in flight for the first `busy` looks at its
    status; records when it was stopped."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.looks = 0
        self.stopped_after: int | None = None

    @property
    def isActive(self) -> bool:  # noqa: N802 - StreamingQuery's name
        return self.stopped_after is None

    @property
    def status(self) -> dict:
        self.looks += 1
        return {"isTriggerActive": self.looks <= self.busy}

    def stop(self) -> None:
        self.stopped_after = self.looks


@pytest.mark.parametrize("busy", [0, 3])
def test_the_kafka_query_is_stopped_between_micro_batches(busy: int) -> None:
    query = _Query(busy)
    stop_between_batches(query, poll_seconds=0)
    assert query.stopped_after == busy + 1  # after the first look that found no micro-batch in flight


def test_a_micro_batch_that_never_ends_does_not_hold_the_stop_forever() -> None:
    query = _Query(busy=10**9)
    stop_between_batches(query, wait_seconds=0.05, poll_seconds=0)
    assert query.stopped_after is not None
