"""Parsing of Kafka values: every malformed kind gets its reason, every valid encoding is read the same."""

from __future__ import annotations

import json

import pytest
from pyspark.testing import assertDataFrameEqual

from pipeline.parsing import TOPIC_FIELDS, checked


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


# One record per case, then the same record as other encoders might write it: fields in another order, whitespace
# (newlines included), extra members of every JSON type (nested objects and arrays too), escaped strings, numbers
# with exponents, integral times as integers
ENCODINGS = {
    "bpm": ((1_000_001, 1_764_115_200.0, 87.5), [
        '{"device_id":1000001,"time":1764115200.0,"heartrate":87.5}',
        '{"heartrate": 87.5, "time": 1764115200, "device_id": 1000001}',
        ' {\n\t"time" : 1.7641152E9 ,\r\n "device_id" : 1000001 , "heartrate" : 875e-1 }\n',
        '{"fw": "2.\\u0031", "device_id": 1000001, "n": null, "ok": true, "no": false, "hr": 1e3, "tags": [1, "a", '
        '[], {}], "o": {"p": {"q": [null, {"r": "s"}]}}, "time": 1764115200.000, "heartrate": 8.75e+1}',
    ]),
    "workout": ((7, 2, 3, "stop", 1_764_115_260.0), [
        '{"user_id":7,"workout_id":2,"session_id":3,"action":"stop","time":1764115260.0}',
        '{"time": 1764115260, "action": "st\\u006fp", "session_id": 3, "workout_id": 2, "user_id": 7}',
        '{"action":"stop","note":"a \\"quoted\\" \\\\ word","user_id":7,"workout_id":2,"session_id":3,'
        '"time":1.76411526e9,"x":[{"y":{}}]}',
    ]),
    "gym out": (("a4:c1:38:00:00:01", 3, 1_764_115_200.25, 1_764_118_800.0), [
        '{"mac_address":"a4:c1:38:00:00:01","gym":3,"login":1764115200.25,"logout":1764118800}',
        '{"logout": 1.7641188e9, "gym": 3, "login": 1764115200.25, "mac_address": "a4\\u003ac1:38:00:00:01"}',
        '{"mac_address": "a4:c1:38:00:00:01", "gym": 3, "visit": {"doors": ["n", "s"], "ok": true}, '
        '"login": 176411520025E-2, "logout": 1764118800.0}',
    ]),
    "gym in": (("a4:c1:38:00:00:01", 3, 1_764_115_200.25, None), [
        '{"mac_address":"a4:c1:38:00:00:01","gym":3,"login":1764115200.25,"logout":null}',
        '{ "logout" : null, "login" : 1764115200.25, "mac_address" : "a4:c1:38:00:00:01", "gym" : 3, "n": [] }',
    ]),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(ENCODINGS))
def test_every_encoding_of_a_record_gives_the_same_typed_row(spark, case):
    """The record's fields are read the same from any valid JSON encoding of it, whichever way the parse goes."""
    kind = case.split()[0]
    record, values = ENCODINGS[case]
    fields = list(TOPIC_FIELDS[kind])
    df = spark.createDataFrame([(v, i) for i, v in enumerate(values)], "value string, i int")
    got = df.transform(checked(kind)).select("i", "reason", *fields)
    expected = spark.createDataFrame([(i, None, *record) for i in range(len(values))], got.schema)
    assertDataFrameEqual(got, expected)


# (field, a value of another JSON type): a number for text, a string for a number, a float for an id, a boolean,
# a nested object or array
WRONG_TYPES = {
    "bpm": [("time", "1764115200.5"), ("heartrate", "NaN"), ("device_id", 1.5), ("heartrate", True),
            ("device_id", {"id": 1})],
    "workout": [("user_id", "1"), ("session_id", 3.0), ("action", True), ("workout_id", {"id": 2}),
                ("action", ["start"])],
    "gym": [("mac_address", 7), ("logout", "1764115260.5"), ("gym", False), ("login", {"t": 1764115200.5}),
            ("mac_address", ["aa:bb"])],
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(WRONG_TYPES))
def test_a_wrong_type_in_any_field_is_reported(spark, kind):
    """Each wrong value in an otherwise well-formed record, written compact and as `json.dumps` with an extra member."""
    record = dict(zip(TOPIC_FIELDS[kind], ENCODINGS["gym out" if kind == "gym" else kind][0], strict=True))
    values, expected = [], []
    for field, wrong in WRONG_TYPES[kind]:
        broken = {**record, field: wrong}
        values += [json.dumps(broken, separators=(",", ":")), json.dumps({"x": [1], **broken})]
        expected += [f"wrong type for {field}"] * 2
    assert reasons(spark, kind, values) == expected


def test_text_after_the_object_is_not_valid_json(spark):
    record = '{"device_id": 1, "time": 1.5, "heartrate": 60}'
    assert reasons(spark, "bpm", [
        record + " x", record + record, record + "\n" + record, record + ", {}", record + "]", record + "] {}",
        record + "}", record + "\n",
    ]) == ["value is not valid JSON"] * 7 + [None]  # fmt: skip


def test_a_field_given_twice_is_malformed_an_extra_member_given_twice_is_ignored(spark):
    assert reasons(spark, "bpm", [
        '{"device_id": 1, "time": 1.5, "heartrate": 60, "heartrate": 60}',
        '{"device_id": 1, "time": 1.5, "heartrate": 60, "device\\u005fid": 2}',
        '{"device_id": 1, "time": 1.5, "heartrate": 60, "x": 1, "x": "two"}',
        '{"device_id": 1, "time": 1.5, "heartrate": 60, "x": {"y": 1, "y": 2}}',
        '{"device_id": 1, "time": 1.5, "heartrate": 60, "note": "\\"time\\": \\"heartrate\\""}',
        '{"device_id": 1, "time": 1.5, "heartrate": 60, "note": "time"}',
        '{"device_id": 1, "time": 1.5, "heartrate": 60, "x": {"time": 2, "heartrate": "high"}}',
    ]) == ["duplicate field heartrate", "duplicate field device_id", None, None, None, None, None]  # fmt: skip
