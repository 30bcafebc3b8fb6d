"""Kafka record values per the data contract (1.2): fast encoders, a generic encoding, malformed variants and a
contract checker."""

from __future__ import annotations

import functools
import json
import math
import random
from collections.abc import Callable

import numpy as np

from core.contract import ACTIONS, TOPIC_FIELDS, TOPICS

BPM, WORKOUT, GYM = 0, 1, 2
TOPIC_NAMES = TOPICS  # index = the topic numbers above

BPM_FORMAT = b'{"device_id":%d,"time":%.3f,"heartrate":%.1f}'
# The same from integers (device, seconds, milliseconds, beats, tenths), one line per record for bulk formatting
BPM_LINE = b'{"device_id":%d,"time":%d.%03d,"heartrate":%d.%d}\n'
WORKOUT_FORMAT = b'{"user_id":%d,"workout_id":%d,"session_id":%d,"action":"%s","time":%.3f}'
GYM_IN_FORMAT = b'{"mac_address":"%s","gym":%d,"login":%.3f,"logout":null}'
GYM_OUT_FORMAT = b'{"mac_address":"%s","gym":%d,"login":%.3f,"logout":%.3f}'

# field name -> kind (core.contract.Field), per topic number
REQUIRED = {number: dict(TOPIC_FIELDS[name]) for number, name in enumerate(TOPICS)}
COMMON_MALFORMED = ("not_json", "not_object", "missing_field", "wrong_type", "negative_id")
MALFORMED_KINDS = {
    BPM: COMMON_MALFORMED,
    WORKOUT: (*COMMON_MALFORMED, "bad_action"),
    GYM: (*COMMON_MALFORMED, "logout_not_after_login"),
}


def bpm_value(device_id: int, time: float, heartrate: float) -> bytes:
    return BPM_FORMAT % (device_id, time, heartrate)


def bpm_lines(devices: np.ndarray, ms: np.ndarray, tenths: np.ndarray) -> list[bytes]:
    """Heart-rate values from integer columns (device, emit time in ms, heart rate in tenths) with one `%` format
    over all of them: the reference encoding, and the fallback for negative numbers."""
    if not len(ms):
        return []
    fields = np.stack((devices, *np.divmod(ms, 1000), *np.divmod(tenths, 10)), axis=1).ravel().tolist()
    values = (BPM_LINE * len(ms) % tuple(fields)).split(b"\n")
    values.pop()
    return values


@functools.cache
def _digit_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lookup tables of ASCII pieces: 0..99999 as five digits, 0..999 as three, and heart rates 0..9999 tenths as
    the value's last bytes (`58.3}`), NUL-padded to six bytes (numpy's bytes-to-list conversion drops the NULs)."""
    five, three = ((np.arange(10**k)[:, None] // 10 ** np.arange(k - 1, -1, -1) % 10 + 48).astype(np.uint8)
                   .view(f"S{k}").ravel() for k in (5, 3))  # fmt: skip
    tails = np.array([b"%d.%d}" % divmod(t, 10) for t in range(10_000)], dtype="S6")
    return five, three, tails


def bpm_values(device_ids: np.ndarray, owner: np.ndarray, ms: np.ndarray, tenths: np.ndarray) -> list[bytes]:
    """The same bytes as `bpm_lines(device_ids[owner], ms, tenths)`, several times faster: each value is a
    template copied into a numpy bytes array, with the device, the seconds below 100000, the milliseconds and the
    heart rate gathered from lookup tables into their places, so no Python object is made per record except the
    value itself. Rows whose numbers do not fit the tables (negative, 10000 bpm or more, times before 1970-01-02,
    devices of different digit counts) take `bpm_lines`."""
    if not len(ms):
        return []
    devices = [b"%d" % d for d in device_ids.tolist()]
    width = len(devices[0])
    secs, millis = np.divmod(ms, 1000)
    if (any(len(d) != width or d.startswith(b"-") for d in devices) or int(secs.min()) < 100_000
            or int(tenths.min()) < 0 or int(tenths.max()) >= 10_000):  # fmt: skip
        return bpm_lines(device_ids[owner], ms, tenths)
    five, three, tails = _digit_tables()
    device_digits = np.array(devices, dtype=f"S{width}")
    high, low = np.divmod(secs, 100_000)
    values: list[bytes] = []
    starts = [0, *(np.flatnonzero(high[1:] != high[:-1]) + 1).tolist(), len(ms)]  # runs of equal high seconds
    for begin, end in zip(starts, starts[1:], strict=False):
        template = b'{"device_id":%s,"time":%d00000.000,"heartrate":\0\0\0\0\0\0' % (b"0" * width, high[begin])
        at = len(template) - 28  # where the five low digits of the seconds go
        layout = np.dtype({"names": ["device", "low", "millis", "tail"], "formats": [f"S{width}", "S5", "S3", "S6"],
                           "offsets": [13, at, at + 6, len(template) - 6], "itemsize": len(template)})  # fmt: skip
        rows = np.empty(end - begin, dtype=layout)
        text = rows.view(f"S{len(template)}")
        text[:] = template
        rows["device"] = device_digits.take(owner[begin:end])
        rows["low"] = five.take(low[begin:end])
        rows["millis"] = three.take(millis[begin:end])
        rows["tail"] = tails.take(tenths[begin:end])
        values += text.tolist()
    return values


# Members another encoder might add (contract 1.2: extra fields are allowed and ignored), of every JSON type
_EXTRA_MEMBERS: tuple[tuple[str, Callable[[random.Random], object]], ...] = (
    ("firmware", lambda rng: f"2.{rng.randrange(10)}.{rng.randrange(10)}"),
    ("battery", lambda rng: round(rng.random(), 2)),
    ("charging", lambda rng: rng.random() < 0.5),
    ("note", lambda rng: None),
    ("tags", lambda rng: ["wrist", rng.choice(("left", "right"))]),
    ("sensor", lambda rng: {"model": "PPG-2", "rev": rng.randrange(5), "leds": [1, 2]}),
)


def generic_value(topic: int, value: bytes, rng: random.Random) -> bytes:
    """The same record as any JSON encoder might write it (`json.dumps`: spaces after separators), its fields in
    shuffled order among one or two extra members. A value that is not a JSON object is kept as it is."""
    try:
        record = json.loads(value)
    except ValueError:
        return value
    if not isinstance(record, dict):
        return value
    members = [(name, record.pop(name)) for name in REQUIRED[topic] if name in record]
    members += [*record.items(), *((name, make(rng)) for name, make in rng.sample(_EXTRA_MEMBERS, rng.randint(1, 2)))]
    rng.shuffle(members)
    return json.dumps(dict(members)).encode()


def malformed_value(topic: int, value: bytes, kind: str, rng: random.Random) -> bytes:
    """A broken copy of a valid record value, broken in the named way (one of MALFORMED_KINDS[topic])."""
    record = json.loads(value)
    fields = list(REQUIRED[topic])
    id_fields = [f for f, t in REQUIRED[topic].items() if t == "id"]
    if kind == "not_json":
        return value[: rng.randint(1, len(value) - 2)]
    if kind == "not_object":
        return json.dumps([record[f] for f in fields], separators=(",", ":")).encode()
    if kind == "missing_field":
        del record[rng.choice(fields)]
    elif kind == "wrong_type":
        name = rng.choice(fields)
        record[name] = 12345 if REQUIRED[topic][name] in ("text", "action") else str(record[name])
    elif kind == "negative_id":
        name = rng.choice(id_fields)
        record[name] = -max(1, record[name])
    elif kind == "bad_action":
        record["action"] = rng.choice(("pause", "START", "", "resume"))
    elif kind == "logout_not_after_login":
        record["logout"] = record["login"] - rng.choice((0.0, 60.0, 3600.0))
    else:
        raise ValueError(f"unknown malformed kind {kind!r}")
    return json.dumps(record, separators=(",", ":")).encode()


def _type_ok(value: object, kind: str) -> bool:
    is_number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "id":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return is_number
    if kind == "optional_number":
        return value is None or is_number
    if kind == "text":
        return isinstance(value, str)
    return value in ACTIONS  # action: a wrong value is reported as bad_action below


def malformed_reason(topic: int, value: bytes) -> str | None:
    """Why a record value breaks the contract (one of the malformed kinds), or None when it is valid."""
    try:
        record = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return "not_json"
    if not isinstance(record, dict):
        return "not_object"
    spec = REQUIRED[topic]
    if any(name not in record for name in spec):
        return "missing_field"
    for name, kind in spec.items():
        if kind == "action":
            if not isinstance(record[name], str):
                return "wrong_type"
            if record[name] not in ACTIONS:
                return "bad_action"
        elif not _type_ok(record[name], kind):
            return "wrong_type"
    if any(record[name] < 0 for name, kind in spec.items() if kind == "id"):
        return "negative_id"
    if topic == GYM and record["logout"] is not None and not record["logout"] > record["login"]:
        return "logout_not_after_login"
    return None
