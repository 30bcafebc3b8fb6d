"""Settings -> client options for production Kafka (SASL/SSL) and the source database; no network needed."""

from __future__ import annotations

import pytest

from core.connections import confluent_kafka_config, jaas_config, jdbc_properties, spark_kafka_options
from core.settings import Settings, SettingsError

BOOTSTRAP = "pkc-123.westeurope.azure.confluent.cloud:9092"


def env_settings(**env: str) -> Settings:
    return Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP, **env})


def test_plaintext_default_adds_only_the_bootstrap_servers():
    assert spark_kafka_options(env_settings()) == {"kafka.bootstrap.servers": BOOTSTRAP}
    assert confluent_kafka_config(env_settings()) == {"bootstrap.servers": BOOTSTRAP}


def test_confluent_cloud_plain_over_sasl_ssl_gives_spark_a_plain_login_module():
    s = env_settings(KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SASL_MECHANISM="PLAIN",
                     KAFKA_SASL_USERNAME="APIKEY", KAFKA_SASL_PASSWORD="s3cr3t")  # fmt: skip
    assert spark_kafka_options(s) == {
        "kafka.bootstrap.servers": BOOTSTRAP,
        "kafka.security.protocol": "SASL_SSL",
        "kafka.sasl.mechanism": "PLAIN",
        "kafka.sasl.jaas.config": "org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="APIKEY" password="s3cr3t";',
    }
    assert confluent_kafka_config(s) == {"bootstrap.servers": BOOTSTRAP, "security.protocol": "SASL_SSL",
                                         "sasl.mechanism": "PLAIN", "sasl.username": "APIKEY",
                                         "sasl.password": "s3cr3t"}  # fmt: skip


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_uses_the_scram_login_module(mechanism):
    s = env_settings(KAFKA_SASL_MECHANISM=mechanism.lower(), KAFKA_SASL_USERNAME="u", KAFKA_SASL_PASSWORD="p")
    opts = spark_kafka_options(s)
    assert opts["kafka.sasl.mechanism"] == mechanism
    assert opts["kafka.security.protocol"] == "SASL_SSL"  # a mechanism alone implies SASL_SSL
    assert opts["kafka.sasl.jaas.config"].startswith("org.apache.kafka.common.security.scram.ScramLoginModule required")


def test_event_hubs_connection_string_survives_jaas_quoting():
    conn = 'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=a"b\\c='
    s = env_settings(KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SASL_USERNAME="$ConnectionString",
                     KAFKA_SASL_PASSWORD=conn)  # fmt: skip
    assert jaas_config(s) == ('org.apache.kafka.common.security.plain.PlainLoginModule required '
                              'username="$ConnectionString" password="Endpoint=sb://ns.servicebus.windows.net/;'
                              'SharedAccessKeyName=k;SharedAccessKey=a\\"b\\\\c=";')  # fmt: skip
    assert confluent_kafka_config(s)["sasl.password"] == conn


def test_on_databricks_the_shaded_kafka_login_module_is_used_fake_databricks():
    s = env_settings(DATABRICKS_RUNTIME_VERSION="17.3", KAFKA_SASL_MECHANISM="PLAIN",
                     KAFKA_SASL_USERNAME="u", KAFKA_SASL_PASSWORD="p")  # fmt: skip
    assert spark_kafka_options(s)["kafka.sasl.jaas.config"].startswith(
        "kafkashaded.org.apache.kafka.common.security.plain.PlainLoginModule required"
    )


def test_credentials_come_from_the_secret_scope_when_no_env_var_is_set_fake_databricks():
    vault = {("lakehouse", "kafka-sasl-username"): "from-scope", ("lakehouse", "kafka-sasl-password"): "pw",
             ("lakehouse", "source-db-user"): "etl", ("lakehouse", "source-db-password"): "db-pw"}  # fmt: skip
    read = lambda scope, key: vault.get((scope, key))  # noqa: E731
    s = env_settings(LAKEHOUSE_SECRET_SCOPE="lakehouse", KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
                     KAFKA_SASL_PASSWORD="env-wins", SOURCE_DB_URL="jdbc:postgresql://db:5432/ops")  # fmt: skip
    cfg = confluent_kafka_config(s, secrets=read)
    assert (cfg["sasl.username"], cfg["sasl.password"]) == ("from-scope", "env-wins")
    assert jdbc_properties(s, secrets=read) == {"user": "etl", "password": "db-pw"}


def test_msk_iam_sets_the_iam_login_module_and_callback_handler():
    opts = spark_kafka_options(env_settings(KAFKA_SASL_MECHANISM="AWS_MSK_IAM"))
    assert opts["kafka.sasl.jaas.config"] == "software.amazon.msk.auth.iam.IAMLoginModule required;"
    assert opts["kafka.sasl.client.callback.handler.class"] == "software.amazon.msk.auth.iam.IAMClientCallbackHandler"


def test_msk_iam_is_refused_for_confluent_kafka_clients_with_one_clear_error():
    with pytest.raises(SettingsError, match="AWS_MSK_IAM works for Spark's Kafka source only"):
        confluent_kafka_config(env_settings(KAFKA_SASL_MECHANISM="AWS_MSK_IAM"))


def test_private_ca_becomes_a_pem_truststore_for_spark_and_ca_location_for_librdkafka():
    s = env_settings(KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_CA_LOCATION="/etc/kafka/ca.pem")
    assert spark_kafka_options(s)["kafka.ssl.truststore.location"] == "/etc/kafka/ca.pem"
    assert spark_kafka_options(s)["kafka.ssl.truststore.type"] == "PEM"
    assert confluent_kafka_config(s)["ssl.ca.location"] == "/etc/kafka/ca.pem"


def test_sasl_without_credentials_fails_with_one_clear_error():
    with pytest.raises(SettingsError, match="needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        spark_kafka_options(env_settings(KAFKA_SECURITY_PROTOCOL="SASL_SSL"))


def test_a_mechanism_with_a_non_sasl_protocol_is_refused():
    with pytest.raises(SettingsError, match="needs KAFKA_SECURITY_PROTOCOL=SASL_SSL"):
        spark_kafka_options(env_settings(KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SASL_MECHANISM="PLAIN"))


@pytest.mark.parametrize(("var", "value"), [("KAFKA_SECURITY_PROTOCOL", "TLS"), ("KAFKA_SASL_MECHANISM", "GSSAPI")])
def test_unknown_protocol_or_mechanism_is_refused_when_settings_are_built(var, value):
    with pytest.raises(SettingsError, match=var):
        env_settings(**{var: value})


def test_jdbc_credentials_from_env_and_none_for_sqlite():
    s = env_settings(SOURCE_DB_URL="jdbc:sqlserver://x.database.windows.net:1433;database=ops",
                     SOURCE_DB_USER="etl", SOURCE_DB_PASSWORD="pw")  # fmt: skip
    assert jdbc_properties(s) == {"user": "etl", "password": "pw"}
    assert jdbc_properties(env_settings(SOURCE_DB_URL="data/source.db", SOURCE_DB_USER="etl")) == {}


def test_secrets_never_appear_in_the_settings_repr():
    s = env_settings(KAFKA_SASL_USERNAME="the-user", KAFKA_SASL_PASSWORD="the-password",
                     SOURCE_DB_USER="db-user", SOURCE_DB_PASSWORD="db-password")  # fmt: skip
    text = repr(s)
    assert not any(secret in text for secret in ("the-user", "the-password", "db-user", "db-password"))
