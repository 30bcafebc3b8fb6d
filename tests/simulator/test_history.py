"""`history` writes the source database and Kafka exactly as the data contract says."""

from __future__ import annotations

import json
from collections import Counter

from confluent_kafka import Producer

from simulator.config import SimulatorConfig
from simulator.engine import run_history
from simulator.records import BPM, GYM, WORKOUT, malformed_reason
from tests.simulator.helpers import consume_all, consume_partitions, db_rows

END = 1_764_000_000.0  # a fixed "now" so runs are comparable


def test_history_records_land_in_kafka_with_contract_keys_values_and_counts(settings):
    stats = run_history(settings, SimulatorConfig(members=30, seed=7), days=1, end=END, progress=False)

    bpm = consume_all(settings.kafka_bootstrap_servers, settings.topic("bpm"))
    workout = consume_all(settings.kafka_bootstrap_servers, settings.topic("workout"))
    gym = consume_all(settings.kafka_bootstrap_servers, settings.topic("gym"))
    assert (len(bpm), len(workout), len(gym)) == (stats.records["bpm"], stats.records["workout"], stats.records["gym"])
    assert len(bpm) > 1000 and len(workout) >= 2 and len(gym) >= 2

    registrations = db_rows(settings.source_db_path, "SELECT user_id, device_id, mac_address FROM registrations")
    devices = {d for _, d, _ in registrations}
    macs = {m for _, _, m in registrations}
    users = {u for u, _, _ in registrations}
    for topic, records in ((BPM, bpm), (WORKOUT, workout), (GYM, gym)):
        assert all(malformed_reason(topic, value) is None for _, value in records)
    bpm_values = [(k, json.loads(v)) for k, v in bpm]
    assert all(k == str(v["device_id"]) and v["device_id"] in devices for k, v in bpm_values)
    assert all(END - 86_400 <= v["time"] < END and 25 <= v["heartrate"] <= 250 for _, v in bpm_values)
    workouts = [(k, json.loads(v)) for k, v in workout]
    assert all(k == str(v["user_id"]) and v["user_id"] in users for k, v in workouts)
    visits = [(k, json.loads(v)) for k, v in gym]
    assert all(k == v["mac_address"] and v["mac_address"] in macs for k, v in visits)

    sessions = Counter((v["user_id"], v["workout_id"], v["session_id"]) for _, v in workouts)
    actions = Counter(((v["user_id"], v["workout_id"], v["session_id"]), v["action"]) for _, v in workouts)
    complete = [s for s in sessions if actions[(s, "start")] == 1 and actions[(s, "stop")] == 1]
    assert len(complete) >= len(sessions) - 2  # only sessions cut by the end of the window may lack a stop
    entries = {(v["mac_address"], v["gym"], v["login"]) for _, v in visits if v["logout"] is None}
    exits = {(v["mac_address"], v["gym"], v["login"]): v["logout"] for _, v in visits if v["logout"] is not None}
    assert all(logout > login for (_, _, login), logout in exits.items())
    assert all(login < END - 86_400 for _, _, login in set(exits) - entries)  # only visits begun before the window


def test_history_creates_the_contract_tables_and_rows(settings):
    stats = run_history(settings, SimulatorConfig(members=25, seed=3), days=2, end=END, progress=False)

    columns = {t: [c[1] for c in db_rows(settings.source_db_path, f"PRAGMA table_info({t})")]
               for t in ("registrations", "profile_changes")}  # fmt: skip
    assert columns["registrations"] == ["user_id", "device_id", "mac_address", "registration_timestamp"]
    assert columns["profile_changes"] == [
        "change_id",
        "user_id",
        "update_type",
        "updated",
        "dob",
        "sex",
        "gender",
        "first_name",
        "last_name",
        "street_address",
        "city",
        "state",
        "zip",
    ]
    registrations = db_rows(settings.source_db_path, "SELECT * FROM registrations ORDER BY user_id")
    assert len(registrations) == stats.registrations >= 25
    assert [r[3] for r in registrations] == sorted(r[3] for r in registrations)  # ids assigned in time order
    assert all(len(mac) == 17 and mac == mac.lower() and mac.count(":") == 5 for _, _, mac, _ in registrations)
    changes = db_rows(settings.source_db_path, "SELECT * FROM profile_changes ORDER BY change_id")
    assert len(changes) == stats.profile_changes
    assert {c[2] for c in changes} <= {"new", "update", "delete"}
    assert all(len(c[11]) == 2 and len(c[12]) == 5 and c[12].isdigit() and c[5] in ("M", "F") for c in changes)
    first = {}
    for change in changes:
        first.setdefault(change[1], change[2])
    assert set(first.values()) == {"new"}


def test_records_are_on_the_partition_librdkafkas_default_partitioner_picks(settings):
    run_history(settings, SimulatorConfig(members=20, seed=5, rest_interval=3600), days=0.5, end=END, progress=False)
    on_partition = {}
    consumer_keys = {}
    for name in settings.topics:
        for key, partition in consume_partitions(settings.kafka_bootstrap_servers, settings.topic(name)):
            consumer_keys[(name, key)] = partition
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})

    def remember(err, msg):
        on_partition[(msg.topic(), msg.key().decode())] = msg.partition()

    for name, key in consumer_keys:
        producer.produce(settings.topic(name), b"probe", key.encode(), on_delivery=remember)
    producer.flush(30)
    assert {(name, key): on_partition[(settings.topic(name), key)] for name, key in consumer_keys} == consumer_keys


def test_a_later_run_continues_with_the_members_in_the_source_database(settings):
    run_history(settings, SimulatorConfig(members=15, seed=6), days=1, end=END - 86_400, progress=False)
    before = db_rows(settings.source_db_path, "SELECT * FROM registrations ORDER BY user_id")
    stats = run_history(settings, SimulatorConfig(members=15, seed=6), days=1, end=END, progress=False)

    after = db_rows(settings.source_db_path, "SELECT * FROM registrations ORDER BY user_id")
    assert after[: len(before)] == before and stats.registrations == len(after) - len(before)
    devices = {str(row[1]) for row in after}
    assert {key for key, _ in consume_all(settings.kafka_bootstrap_servers, settings.topic("bpm"))} <= devices
