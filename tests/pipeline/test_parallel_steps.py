"""run_parallel: independent steps run at the same time, every one runs to its end, and errors are not lost."""

from __future__ import annotations

import threading

import pytest

from pipeline.streams import run_parallel


def test_steps_run_at_the_same_time_and_their_rows_are_summed():
    both_running = threading.Barrier(2, timeout=30)  # passes only when both steps are inside it at once

    def step(rows: int):
        def run(_lh) -> int:
            both_running.wait()
            return rows

        return run

    assert run_parallel(None, step(3), step(4)) == 7


def test_a_failing_step_does_not_stop_the_others_and_its_error_is_raised_after_them():
    finished: list[str] = []
    release = threading.Event()

    def fails(_lh) -> int:
        release.set()
        raise ValueError("step one broke")

    def slow(_lh) -> int:
        assert release.wait(30)
        finished.append("slow")
        return 1

    with pytest.raises(ValueError, match="step one broke"):
        run_parallel(None, fails, slow)
    assert finished == ["slow"]


def test_one_step_runs_in_the_callers_thread():
    caller = threading.current_thread()
    assert run_parallel(None, lambda _lh: 5 if threading.current_thread() is caller else -1) == 5
