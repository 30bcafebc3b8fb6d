"""The SparkSession the project starts itself (core.spark.get_spark)."""

from __future__ import annotations


def test_a_query_planned_again_after_a_hundred_others_compiles_nothing(spark):
    """A stream plans the same queries every round: their generated classes must still be cached by then (Spark's
    default keeps 100; a pipeline run generates about 490 classes), or each round compiles them again."""
    assert not spark.streams.active, "a stream left running by another test would compile classes meanwhile"
    metrics = spark._jvm.org.apache.spark.metrics.source.CodegenMetrics

    def compiled() -> int:
        return int(metrics.METRIC_COMPILATION_TIME().getCount())

    def query(i: int) -> None:  # the literal is part of the generated code: every i is a new class
        assert spark.range(3).selectExpr(f"id * {i + 7} + {i} AS v").collect()[2].v == 2 * (i + 7) + i

    query(0)
    first = compiled()
    for i in range(1, 120):
        query(i)
    others = compiled()
    assert others > first + 100  # each of the other queries compiled its own classes
    query(0)
    assert compiled() == others
