"""Parsing of Kafka values: every malformed kind gets its reason, every valid encoding is read the same."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from pipeline.parsing import TOPIC_FIELDS, checked, compact_pattern


def reasons(spark, kind: str, values: list[str]) -> list[str | None]:
    df = spark.createDataFrame([(v, i) for i, v in enumerate(values)], "value string, i int")
    return [r.reason for r in df.transform(checked(kind)).orderBy("i").collect()]


def test_every_malformed_kind_of_the_contract_gets_its_reason(spark):
    assert reasons(spark, "bpm", [
        '{"device_id": 1, "time": 1.5, "heartrate": 60, "extra": "ignored"}',
        "{not json",
        "[1, 2]",
        '{"device_id": 1, "heartrate": 60}',
        '{"device_id": "1", "time": 1.5, "heartrate": 60}',
        '{"device_id": 1.5, "time": 1.5, "heartrate": 60}',
        '{"device_id": -4, "time": 1.5, "heartrate": 60}',
        '{"device_id": 1, "time": null, "heartrate": 60}',
    ]) == [None, "value is not valid JSON", "value is not a JSON object", "missing field time",
           "wrong type for device_id", "wrong type for device_id", "negative id device_id",
           "missing field time"]  # fmt: skip
    assert reasons(spark, "workout", [
        '{"user_id": 1, "workout_id": 2, "session_id": 3, "action": "start", "time": 10}',
        '{"user_id": 1, "workout_id": 2, "session_id": 3, "action": "pause", "time": 10}',
        '{"user_id": 1, "workout_id": 2, "session_id": 3, "action": 1, "time": 10}',
    ]) == [None, "action is not start or stop", "wrong type for action"]  # fmt: skip
    assert reasons(spark, "gym", [
        '{"mac_address": "aa", "gym": 1, "login": 10, "logout": null}',
        '{"mac_address": "aa", "gym": 1, "login": 10, "logout": 11.5}',
        '{"mac_address": "aa", "gym": 1, "login": 10, "logout": 10}',
        '{"mac_address": "aa", "gym": 1, "login": 10}',
        '{"mac_address": 7, "gym": 1, "login": 10, "logout": null}',
    ]) == [None, None, "logout is not after login", "missing field logout", "wrong type for mac_address"]  # fmt: skip


COMPACT_CASES = {
    "bpm": [
        '{"device_id":1000001,"time":1764115200.123,"heartrate":87.5}',
        '{"device_id":0,"time":0,"heartrate":0}',
        '{"device_id":999999999999999999,"time":9999999999.99999,"heartrate":250}',
        '{"device_id":1,"time":1.5,"heartrate":24.9}',
        '{"device_id":12,"time":1764115200,"heartrate":250.00001}',
        # not compact: sign, exponent, 19 digits, leading zero, too many decimals, order, extra field, spaces
        '{"device_id":1,"time":-1.5,"heartrate":60}',
        '{"device_id":1,"time":1e3,"heartrate":60}',
        '{"device_id":9223372036854775807,"time":1,"heartrate":60}',
        '{"device_id":9223372036854775808,"time":1,"heartrate":60}',
        '{"device_id":01,"time":1,"heartrate":60}',
        '{"device_id":1,"time":1.123456789012345678,"heartrate":60}',
        '{"time":1,"device_id":1,"heartrate":60}',
        '{"device_id":1,"time":1,"heartrate":60,"x":1}',
        '{"device_id":1,"time":1,"heartrate":60}\n',
        '{"device_id":1,"time":1,"heartrate":"60"}',
        '{"device_id":1,"time":1,"heartrate":60,"heartrate":61}',
    ],
    "workout": [
        '{"user_id":1,"workout_id":2,"session_id":3,"action":"start","time":1764115200.5}',
        '{"user_id":1,"workout_id":2,"session_id":3,"action":"stop","time":1764115200}',
        '{"user_id":1,"workout_id":2,"session_id":3,"action":"pause","time":1}',
        '{"user_id":1,"workout_id":2,"session_id":-3,"action":"stop","time":1}',
        '{"user_id":1,"workout_id":2,"session_id":3,"action":"st\\u006fp","time":1}',
    ],
    "gym": [
        '{"mac_address":"a4:c1:38:00:00:01","gym":3,"login":1764115200.25,"logout":null}',
        '{"mac_address":"a,b}c:","gym":3,"login":100,"logout":100.5}',
        '{"mac_address":"aa","gym":3,"login":100,"logout":100}',
        '{"mac_address":"aa","gym":3,"login":100,"logout":99.99999}',
        '{"mac_address":"","gym":0,"login":0,"logout":0.00001}',
        '{"mac_address":"a\\"b","gym":3,"login":100,"logout":null}',
        '{"mac_address":"aa","gym":3,"login":100}',
        '{"mac_address":7,"gym":3,"login":100,"logout":null}',
    ],
}


COMPACT_COUNT = {"bpm": 5, "workout": 2, "gym": 5}  # the first cases of each list are in the compact encoding


@pytest.mark.parametrize("kind", sorted(COMPACT_CASES))
def test_compact_values_are_read_as_the_general_json_path_reads_them(spark, kind):
    """A value in the simulator's compact encoding is read from its tokens; any other through VARIANT. Each case is
    also fed with a leading space, which is the same JSON but never compact: both must give the same row."""
    values = COMPACT_CASES[kind]
    fields = list(TOPIC_FIELDS[kind])
    df = spark.createDataFrame([(v, i) for i, v in enumerate(values)] + [(" " + v, i) for i, v in enumerate(values)],
                               "value string, i int")  # fmt: skip
    rows = df.transform(checked(kind)).select("i", F.col("value").startswith(" ").alias("spaced"), "reason", *fields)
    got = {(r.i, r.spaced): tuple(r[c] for c in ["reason", *fields]) for r in rows.collect()}
    for i, value in enumerate(values):
        compact, general = got[(i, False)], got[(i, True)]
        if general[0] is None:  # well-formed: every typed field is equal, bit for bit
            assert compact == general, value
        else:
            assert compact[0] == general[0], value
    is_compact = [r.m for r in df.where(~F.col("value").startswith(" ")).orderBy("i")
                  .select(F.col("value").rlike(compact_pattern(kind)).alias("m")).collect()]  # fmt: skip
    assert is_compact == [i < COMPACT_COUNT[kind] for i in range(len(values))]  # in Spark's regex dialect
    compact_reasons = [got[(i, False)][0] for i in range(len(values))]
    assert compact_reasons.count(None) >= 2  # the cases include well-formed values that take each path
    assert len(set(compact_reasons)) >= 2  # and malformed ones


def test_the_compact_pattern_matches_what_the_simulator_writes():
    import re

    from simulator import records

    samples = {
        "bpm": records.bpm_value(1000001, 1764115200.123, 87.5),
        "workout": records.WORKOUT_FORMAT % (1, 2, 3, b"start", 1764115200.5),
        "gym": records.GYM_OUT_FORMAT % (b"a4:c1:38:00:00:01", 3, 1764115200.25, 1764118800.75),
    }
    for kind, value in samples.items():
        pattern = compact_pattern(kind).replace(r"\z", r"\Z")  # Java's end of input is Python's \Z
        assert re.match(pattern, value.decode()), (kind, value)
    assert re.match(compact_pattern("gym").replace(r"\z", r"\Z"),
                    (records.GYM_IN_FORMAT % (b"a4:c1:38:00:00:01", 3, 1764115200.25)).decode())  # fmt: skip
