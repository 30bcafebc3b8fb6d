"""Stream wiring: one function runs a step as a one-shot batch (availableNow) or as a continuous stream."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyspark import InheritableThread
from pyspark.sql import DataFrame
from pyspark.sql.streaming import StreamingQuery

from core.contract import Table
from pipeline.run_state import StageRun
from pipeline.storage import Lakehouse

log = logging.getLogger(__name__)

BatchSink = Callable[[DataFrame, int], None]
Step = Callable[[StageRun], int]  # one step of a stage: returns its input row count


@dataclass(frozen=True)
class Trigger:
    """availableNow processes everything there is now and stops; otherwise a micro-batch every `interval`."""

    available_now: bool = True
    interval: str = "2 seconds"

    def apply(self, writer):
        return writer.trigger(availableNow=True) if self.available_now else writer.trigger(processingTime=self.interval)


AVAILABLE_NOW = Trigger()


def start_stream(lh: Lakehouse, name: str, source: DataFrame, trigger: Trigger, sink: BatchSink) -> StreamingQuery:
    """Start `source` into `sink`, a named foreachBatch function, checkpointed under the stream's name."""
    writer = source.writeStream.queryName(name).option("checkpointLocation", lh.checkpoint(name))
    return trigger.apply(writer).foreachBatch(sink).start()


def append_each_batch_once(lh: Lakehouse, table: Table, name: str) -> BatchSink:
    """Append the stream `name`'s micro-batches (or rows computed from them) into `table`, each batch exactly once.

    After a crash Spark runs again only the batch it had started and not marked done, and always as the first batch
    of the next run. So only the first append of a run is checked against the table's commit history (skipped if this
    stream already committed that batch); the others are plain appends, with no per-commit lookup, unlike Delta's
    own streaming sink and `txnAppId` (see `Lakehouse.append_batch`)."""
    writer_id = lh.writer_id(name)
    checked = False

    def append_new_batch(rows: DataFrame, batch_id: int) -> None:
        nonlocal checked
        if not checked:
            done = lh.last_batch(table, writer_id)
            checked = True
            if batch_id <= done:
                log.info("%s: batch %d is already in %s (committed before a restart), skipped", name, batch_id,
                         table.full_name)  # fmt: skip
                return
        lh.append_batch(table, rows, writer_id, batch_id)

    return append_new_batch


def run_available_now(run: StageRun, name: str, source: DataFrame | Callable[[], DataFrame],
                      sink: BatchSink, inputs: tuple[Table, ...] = ()) -> int:  # fmt: skip
    """Process everything available now, wait for it, and return the number of input rows; errors propagate.

    With `inputs`, the step is skipped (0 rows, no query started) while none of those tables has a Delta version
    newer than the one this step last caught up to (`run.state`): an idle round costs file listings, not queries.
    """
    versions = tuple(run.lh.version(t) for t in inputs)
    if inputs and run.state.is_caught_up(name, versions):
        log.debug("%s: no new version of %s, skipped", name, ", ".join(t.full_name for t in inputs))
        return 0
    started = time.monotonic()
    query = start_stream(run.lh, name, source() if callable(source) else source, AVAILABLE_NOW, sink)
    try:
        query.awaitTermination()
    finally:
        if query.isActive:
            query.stop()
    rows = sum(int(p.get("numInputRows", 0)) for p in query.recentProgress)
    run.state.caught_up(name, versions)
    log.info("%s: %d input rows in %.1fs", name, rows, time.monotonic() - started)
    return rows


def run_parallel(run: StageRun, *steps: Step) -> int:
    """Run steps that neither read nor write each other's tables side by side, each in its own thread (Spark runs
    their jobs concurrently: one step's planning, commits and small jobs overlap another's), and return the sum
    of their input rows. Every step runs to its end; then the first error, if any, is raised."""
    if len(steps) == 1:
        return steps[0](run)
    results: list[int | BaseException] = [0] * len(steps)

    def run_step(i: int) -> None:
        try:
            results[i] = steps[i](run)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            results[i] = exc

    threads = [InheritableThread(target=run_step, args=(i,), name=getattr(step, "__name__", "step"))
               for i, step in enumerate(steps)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return sum(results)  # type: ignore[arg-type]


def stop_between_batches(query: StreamingQuery, wait_seconds: float = 30.0, poll_seconds: float = 0.1) -> None:
    """Stop a continuous query once its micro-batch in flight, if any, is over (at most `wait_seconds`): a stop in
    the middle of one cancels its append (harmless, it runs again after a restart, but it logs a traceback)."""
    deadline = time.monotonic() + wait_seconds
    while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
        time.sleep(poll_seconds)
    if query.isActive:
        query.stop()
