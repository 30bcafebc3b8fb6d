"""The simulator's Kafka clients connect as `core.connections` says: SASL/SSL settings reach the producer and the
admin client, a background run inherits them, and missing credentials are a one-line error."""

from __future__ import annotations

from dataclasses import replace

from confluent_kafka import Producer

from core.settings import Settings
from simulator.control import child_env
from simulator.kafka_sink import admin_config, producer_config
from tests.conftest import free_port
from tests.simulator.helpers import run

SASL_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS": "broker-1.example.com:9093",
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USERNAME": "simulator",
    "KAFKA_SASL_PASSWORD": "s3cret",
    "KAFKA_SSL_CA_LOCATION": "/etc/ssl/private-ca.pem",
}
SECURITY = {
    "bootstrap.servers": "broker-1.example.com:9093",
    "security.protocol": "SASL_SSL",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "simulator",
    "sasl.password": "s3cret",
    "ssl.ca.location": "/etc/ssl/private-ca.pem",
}


def test_producer_and_admin_configs_carry_the_sasl_ssl_settings():
    settings = Settings.from_env(SASL_ENV)

    producer = producer_config(settings, tuning={"compression.type": "lz4", "linger.ms": 5})
    admin = admin_config(settings)

    assert SECURITY.items() <= producer.items()
    assert SECURITY.items() <= admin.items()
    assert producer["enable.idempotence"] is True and producer["acks"] == "all"
    assert producer["compression.type"] == "lz4" and producer["linger.ms"] == 5


def test_tuning_never_overrides_the_delivery_guarantees():
    config = producer_config(Settings.from_env(SASL_ENV), tuning={"acks": 1, "enable.idempotence": False})
    assert config["acks"] == "all" and config["enable.idempotence"] is True


def test_plaintext_needs_no_security_settings():
    config = producer_config(Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"}))
    assert config["bootstrap.servers"] == "127.0.0.1:9092"
    assert not {k for k in config if k.startswith(("security.", "sasl.", "ssl."))}


def test_librdkafka_accepts_the_sasl_producer_config():
    env = {k: v for k, v in SASL_ENV.items() if k != "KAFKA_SSL_CA_LOCATION"}  # the CA file is read at start
    settings = Settings.from_env({**env, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"})
    Producer(producer_config(settings))  # raises KafkaException on an unknown or invalid property or value


def test_a_background_run_inherits_the_connection_settings(monkeypatch):
    sasl = Settings.from_env(SASL_ENV)
    inherited = Settings.from_env(child_env(sasl))
    assert inherited.kafka_security_protocol == "SASL_SSL" and inherited.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert (inherited.kafka_sasl_username, inherited.kafka_sasl_password) == ("simulator", "s3cret")
    assert inherited.kafka_ssl_ca_location == "/etc/ssl/private-ca.pem"

    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "PLAIN")  # in this process's environment, not in the settings
    plain = Settings.from_env(child_env(Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"})))
    assert plain.kafka_sasl_mechanism is None and plain.kafka_security_protocol is None


def test_missing_sasl_credentials_are_a_one_line_error(settings):
    no_password = replace(settings, kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN",
                          kafka_sasl_username="simulator")  # fmt: skip
    result = run(no_password, "history", "--days", "0.1", "--members", "5", "--no-progress")
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "KAFKA_SASL_PASSWORD" in lines[0], result.stderr
