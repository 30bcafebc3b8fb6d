"""Gold: the tables the dashboard reads, recomputed only for the keys that new silver rows touch."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipeline.silver import SESSION_KEY
from pipeline.storage import Lakehouse
from pipeline.streams import run_available_now
from pipeline.tables import WORKOUT_BPM, WORKOUT_BPM_SUMMARY
from pipeline.transforms import workout_bpm_summary

log = logging.getLogger(__name__)


def with_member_attributes(summary: DataFrame) -> DataFrame:
    """Gym and age-bin columns; NULL until gym_logs and user_bins are built (gym and profile streams)."""
    return summary.select(
        *SESSION_KEY, "start_time", "end_time",
        F.lit(None).cast("bigint").alias("gym"),
        F.lit(None).cast("string").alias("age"),
        F.lit(None).cast("string").alias("gender"),
        F.lit(None).cast("string").alias("city"),
        F.lit(None).cast("string").alias("state"),
        "min_bpm", "avg_bpm", "max_bpm", "num_recordings",
    )  # fmt: skip


def build_workout_bpm_summary(lh: Lakehouse) -> int:
    def upsert_workout_bpm_summary(batch: DataFrame, _id: int) -> None:
        touched = batch.select(*SESSION_KEY).distinct()
        readings = lh.read(WORKOUT_BPM).join(touched, SESSION_KEY, "left_semi")
        rows = readings.transform(workout_bpm_summary).transform(with_member_attributes)
        lh.upsert(WORKOUT_BPM_SUMMARY, rows, SESSION_KEY)

    return run_available_now(lh, "gold_workout_bpm_summary", lh.read_stream(WORKOUT_BPM, appends_only=True),
                             sink=upsert_workout_bpm_summary)  # fmt: skip


def run_gold(lh: Lakehouse) -> int:
    return build_workout_bpm_summary(lh)
