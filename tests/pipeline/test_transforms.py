"""Pure transforms, 2-5 inline rows per case, whole-DataFrame equality."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from pipeline.parsing import TOPIC_FIELDS, checked, compact_pattern
from pipeline.transforms import age_bin, completed_workouts, latest_profile_changes


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


@pytest.mark.parametrize(
    ("dob", "label"),
    [
        (date(2008, 11, 26), "under 18"),  # turns 18 the day after `today`
        (date(2008, 11, 25), "18-25"),
        (date(2001, 11, 25), "25-35"),  # 25 exactly: lower bound inclusive
        (date(1931, 11, 25), "95+"),
        (date(2030, 1, 1), "invalid age"),
        (None, "invalid age"),
    ],
)
def test_age_bins_use_whole_years_with_inclusive_lower_bounds(spark, dob, label):
    df = spark.createDataFrame([(dob,)], "dob date")
    got = df.select(age_bin(F.col("dob"), F.lit(date(2026, 11, 25))).alias("age")).first().age
    assert got == label


def test_latest_profile_change_is_the_greatest_updated_then_change_id_not_the_last_arrived(spark):
    cols = "change_id bigint, user_id bigint, update_type string, updated double, dob string, sex string, " \
           "gender string, first_name string, last_name string, street_address string, city string, state string, " \
           "zip string"  # fmt: skip
    rows = [
        (1, 7, "new", 100.0, "1990-01-01", "F", "f", "A", "B", "s", "Austin", "TX", "73301"),
        (2, 7, "delete", 300.0, None, None, None, None, None, None, None, None, None),
        (3, 7, "update", 200.0, "1990-01-01", "F", "f", "A", "B", "s", "Dallas", "TX", "75001"),  # late, older
        (4, 8, "update", 50.0, "1980-05-05", "M", "m", "C", "D", "t", "Reno", "NV", "89501"),
        (5, 8, "update", 50.0, "1980-05-05", "M", "m", "C", "D", "t", "Elko", "NV", "89801"),  # same time: id wins
    ]
    got = latest_profile_changes(spark.createDataFrame(rows, cols)).select("user_id", "update_type", "city")
    assertDataFrameEqual(got, spark.createDataFrame([(7, "delete", None), (8, "update", "Elko")],
                                                    "user_id bigint, update_type string, city string"))  # fmt: skip


def test_completed_workouts_need_start_before_stop_within_three_hours(spark):
    t = datetime(2026, 1, 1, 10, 0, 0)

    def at(minutes: int) -> datetime:
        return datetime.fromtimestamp(t.timestamp() + minutes * 60)

    rows = [
        (1, 1, 1, "start", t), (1, 1, 1, "stop", at(180)),  # exactly 3 hours: completed
        (1, 2, 1, "start", t), (1, 2, 1, "stop", at(181)),  # longer: not completed
        (1, 3, 1, "start", t), (1, 3, 1, "stop", t),  # zero length: not completed
        (1, 4, 1, "stop", at(5)),  # stop only
    ]  # fmt: skip
    df = spark.createDataFrame(
        rows, "user_id bigint, workout_id bigint, session_id bigint, action string, time timestamp"
    )
    assertDataFrameEqual(completed_workouts(df), spark.createDataFrame(
        [(1, 1, 1, t, at(180))],
        "user_id bigint, workout_id bigint, session_id bigint, start_time timestamp, end_time timestamp"))  # fmt: skip
