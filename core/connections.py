"""Client options for the production connections, from Settings alone: Kafka (SASL/SSL) and the source database.

The same settings give Spark's Kafka source, confluent-kafka clients and Spark's JDBC source what they need, so a
move from the local broker to Confluent Cloud, Azure Event Hubs or Amazon MSK is configuration only. Credentials
come from environment variables or, when `LAKEHOUSE_SECRET_SCOPE` is set, from that Databricks secret scope.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable

from core.settings import Settings, SettingsError

log = logging.getLogger(__name__)

# (scope, key) -> the secret's value, or None when the scope has no such key
SecretReader = Callable[[str, str], str | None]

# A value after a key that names a secret (`password=`, `trustStorePassword=`, `client_secret=`, `accessToken=` ...):
# quoted, in braces (SQL Server) or up to the next separator. User names are left: they are not secrets.
_SECRET_VALUE = re.compile(
    r"(?i)(?<![\w.-])([\w.-]*(?:password|passwd|pwd|secret|token|apikey|api_key|accesskey|accountkey|privatekey|sig))(\s*=\s*)"
    r"(\"[^\"]*\"|'[^']*'|\{[^}]*\}|[^;&\s,)\"']+)"
)
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)([^@\s/]+)(@)")  # scheme://user:password@host
_ORACLE_PASSWORD = re.compile(r"(?i)(jdbc:oracle:[a-z]+:[^/@\s:]+/)([^@\s]+)(@)")  # jdbc:oracle:thin:user/password@
REDACTED = "***"


def redact(text: str) -> str:
    """The text with every credential of a JDBC URL, connection string or JAAS line replaced by ***; for logs, error
    lines and ops.pipeline_runs, which must never carry a password."""
    text = _SECRET_VALUE.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", text)
    text = _URL_PASSWORD.sub(lambda m: f"{m[1]}{REDACTED}{m[3]}", text)
    return _ORACLE_PASSWORD.sub(lambda m: f"{m[1]}{REDACTED}{m[3]}", text)


class RedactingFilter(logging.Filter):
    """A handler filter that redacts credentials from every record's message and traceback before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


# Keys looked up in the secret scope for credentials that are not set as environment variables.
SECRET_KEYS = {
    "kafka_sasl_username": "kafka-sasl-username",
    "kafka_sasl_password": "kafka-sasl-password",
    "source_db_user": "source-db-user",
    "source_db_password": "source-db-password",
}

LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}
MSK_IAM_LOGIN_MODULE = "software.amazon.msk.auth.iam.IAMLoginModule"
MSK_IAM_CALLBACK_HANDLER = "software.amazon.msk.auth.iam.IAMClientCallbackHandler"
# Databricks Runtime ships the Kafka client and the MSK IAM library relocated under these package prefixes.
DATABRICKS_KAFKA_SHADE = "kafkashaded."
DATABRICKS_MSK_IAM_SHADE = "shadedmskiam."


def databricks_secret_reader() -> SecretReader:
    """Read secrets through dbutils.secrets; only works on a Databricks cluster (or with Databricks Connect)."""
    try:
        from databricks.sdk.runtime import dbutils
    except ImportError as exc:
        raise SettingsError(
            "LAKEHOUSE_SECRET_SCOPE is set, but dbutils.secrets is only available on Databricks"
        ) from exc

    def read(scope: str, key: str) -> str | None:
        try:
            return dbutils.secrets.get(scope=scope, key=key)
        except Exception:  # noqa: BLE001 - a missing key arrives as a generic error; the caller decides if it matters
            log.debug("secret %s/%s is not readable", scope, key, exc_info=True)
            return None

    return read


def _credential(settings: Settings, name: str, secrets: SecretReader | None) -> str | None:
    """The credential from its environment variable, else from the secret scope, else None."""
    value = getattr(settings, name)
    if value or not settings.secret_scope:
        return value
    reader = secrets or databricks_secret_reader()
    return reader(settings.secret_scope, SECRET_KEYS[name]) or None


def _security(settings: Settings) -> tuple[str, str | None]:
    """Effective (security protocol, SASL mechanism): a mechanism alone implies SASL_SSL, SASL alone implies PLAIN."""
    mechanism = settings.kafka_sasl_mechanism
    protocol = settings.kafka_security_protocol or ("SASL_SSL" if mechanism else "PLAINTEXT")
    if protocol.startswith("SASL_"):
        return protocol, mechanism or "PLAIN"
    if mechanism:
        raise SettingsError(
            f"KAFKA_SASL_MECHANISM={mechanism} needs KAFKA_SECURITY_PROTOCOL=SASL_SSL or SASL_PLAINTEXT, not {protocol}"
        )
    return protocol, None


def _sasl_credentials(settings: Settings, mechanism: str, secrets: SecretReader | None) -> tuple[str, str]:
    username = _credential(settings, "kafka_sasl_username", secrets)
    password = _credential(settings, "kafka_sasl_password", secrets)
    if not username or not password:
        keys = f"{SECRET_KEYS['kafka_sasl_username']}/{SECRET_KEYS['kafka_sasl_password']}"
        where = f" or keys {keys} in secret scope {settings.secret_scope}" if settings.secret_scope else ""
        raise SettingsError(
            f"KAFKA_SASL_MECHANISM={mechanism} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD{where}"
        )
    return username, password


def _jaas_quote(value: str) -> str:
    """A JAAS option value in double quotes, with backslashes and quotes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def jaas_config(settings: Settings, secrets: SecretReader | None = None) -> str | None:
    """The `sasl.jaas.config` line of Kafka's Java client for the configured mechanism, or None without SASL."""
    _, mechanism = _security(settings)
    if mechanism is None:
        return None
    on_databricks = bool(settings.databricks_runtime_version)
    if mechanism == "AWS_MSK_IAM":
        return f"{DATABRICKS_MSK_IAM_SHADE if on_databricks else ''}{MSK_IAM_LOGIN_MODULE} required;"
    username, password = _sasl_credentials(settings, mechanism, secrets)
    module = f"{DATABRICKS_KAFKA_SHADE if on_databricks else ''}{LOGIN_MODULES[mechanism]}"
    return f"{module} required username={_jaas_quote(username)} password={_jaas_quote(password)};"


def spark_kafka_options(settings: Settings, secrets: SecretReader | None = None) -> dict[str, str]:
    """`kafka.`-prefixed options for Spark's Kafka source: bootstrap servers plus whatever security is configured."""
    protocol, mechanism = _security(settings)
    options = {"kafka.bootstrap.servers": settings.kafka_bootstrap_servers}
    if protocol != "PLAINTEXT":
        options["kafka.security.protocol"] = protocol
    if mechanism:
        options["kafka.sasl.mechanism"] = mechanism
        options["kafka.sasl.jaas.config"] = jaas_config(settings, secrets) or ""
        if mechanism == "AWS_MSK_IAM":
            shade = DATABRICKS_MSK_IAM_SHADE if settings.databricks_runtime_version else ""
            options["kafka.sasl.client.callback.handler.class"] = f"{shade}{MSK_IAM_CALLBACK_HANDLER}"
    if settings.kafka_ssl_ca_location and protocol in ("SSL", "SASL_SSL"):
        options["kafka.ssl.truststore.type"] = "PEM"
        options["kafka.ssl.truststore.location"] = settings.kafka_ssl_ca_location
    return options


def confluent_kafka_config(settings: Settings, secrets: SecretReader | None = None) -> dict[str, str]:
    """Configuration for confluent-kafka (librdkafka) producers, consumers and admin clients."""
    protocol, mechanism = _security(settings)
    config = {"bootstrap.servers": settings.kafka_bootstrap_servers}
    if protocol != "PLAINTEXT":
        config["security.protocol"] = protocol
    if mechanism == "AWS_MSK_IAM":
        raise SettingsError("KAFKA_SASL_MECHANISM=AWS_MSK_IAM works for Spark's Kafka source only; confluent-kafka "
                            "clients (simulator, topic creation) need SCRAM or PLAIN credentials on MSK")  # fmt: skip
    if mechanism:
        username, password = _sasl_credentials(settings, mechanism, secrets)
        config.update({"sasl.mechanism": mechanism, "sasl.username": username, "sasl.password": password})
    if settings.kafka_ssl_ca_location and protocol in ("SSL", "SASL_SSL"):
        config["ssl.ca.location"] = settings.kafka_ssl_ca_location
    return config


def jdbc_properties(settings: Settings, secrets: SecretReader | None = None) -> dict[str, str]:
    """`user`/`password` for the source database's JDBC connection; empty when the URL needs none (SQLite)."""
    if not settings.source_db_is_jdbc:
        return {}
    props = {
        "user": _credential(settings, "source_db_user", secrets),
        "password": _credential(settings, "source_db_password", secrets),
    }
    return {k: v for k, v in props.items() if v}


# (token URL, form fields, client id, client secret) -> the token endpoint's JSON answer
TokenPost = Callable[[str, dict[str, str], str, str], dict]


def _post_form(url: str, fields: dict[str, str], client_id: str, client_secret: str) -> dict:
    """POST a form with HTTP basic authentication; the JSON answer."""
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), method="POST",
                                     headers={"Authorization": f"Basic {basic}",
                                              "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


class DatabricksOAuth:
    """OAuth machine-to-machine sign-in of a service principal: short-lived tokens from the workspace's
    `/oidc/v1/token`, renewed before they expire. A `credentials_provider` for databricks-sql-connector."""

    RENEW_SECONDS = 300.0  # a token is renewed this long before it expires

    def __init__(self, settings: Settings, post: TokenPost | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        if not (settings.databricks_server_hostname and settings.databricks_oauth):
            raise SettingsError(
                "OAuth needs DATABRICKS_SERVER_HOSTNAME, DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET"
            )
        host = settings.databricks_server_hostname.removeprefix("https://").removeprefix("http://").rstrip("/")
        self.token_url = f"https://{host}/oidc/v1/token"
        self._id, self._secret = settings.databricks_client_id or "", settings.databricks_client_secret or ""
        self._post = post or _post_form
        self._clock = clock
        self._token, self._expires = "", 0.0
        self._lock = threading.Lock()

    def auth_type(self) -> str:
        return "oauth-m2m"

    def token(self) -> str:
        with self._lock:
            if not self._token or self._clock() > self._expires - self.RENEW_SECONDS:
                try:
                    answer = self._post(self.token_url, {"grant_type": "client_credentials", "scope": "all-apis"},
                                        self._id, self._secret)  # fmt: skip
                except Exception as exc:  # noqa: BLE001 - one line without the secret, whatever the HTTP error
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    raise SettingsError(
                        f"OAuth sign-in of service principal {self._id} failed: {redact(first)}"
                    ) from exc
                self._token = str(answer["access_token"])
                self._expires = self._clock() + float(answer.get("expires_in", 3600))
            return self._token

    def __call__(self, *args: object, **kwargs: object) -> Callable[[], dict[str, str]]:
        return lambda: {"Authorization": f"Bearer {self.token()}"}


def libpq_conninfo(**params: object) -> str:
    """A libpq connection string (`key='value' ...`) with every value quoted; None values are left out."""

    def quote(value: object) -> str:
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"

    return " ".join(f"{key}={quote(value)}" for key, value in params.items() if value is not None)


# PgJDBC URL parameters that have a libpq equivalent (name in the URL, case-insensitive -> libpq keyword)
_PGJDBC_TO_LIBPQ = {"user": "user", "password": "password", "sslmode": "sslmode", "sslrootcert": "sslrootcert",
                    "sslcert": "sslcert", "sslkey": "sslkey", "connecttimeout": "connect_timeout",
                    "applicationname": "application_name", "options": "options",
                    "targetservertype": "target_session_attrs"}  # fmt: skip
_PGJDBC_URL = re.compile(r"(?i)^jdbc:postgresql://(?P<hosts>[^/?]*)(?:/(?P<db>[^?]*))?(?:\?(?P<query>.*))?$")


def psycopg_conninfo(settings: Settings, secrets: SecretReader | None = None) -> str:
    """The libpq connection string (for psycopg) of a `jdbc:postgresql://host[:port][,host2...]/db?...` SOURCE_DB_URL.

    Credentials come from the URL's `user`/`password` parameters, else SOURCE_DB_USER/SOURCE_DB_PASSWORD (or the
    secret scope); `ssl=true` means sslmode=require, as PgJDBC reads it."""
    match = _PGJDBC_URL.match(settings.source_db_url)
    if not match:
        raise SettingsError(f"SOURCE_DB_URL={redact(settings.source_db_url)!r} is not a jdbc:postgresql:// URL")
    hosts, ports = [], []
    for part in (match["hosts"] or "").split(","):
        host, port = part, ""
        if part.startswith("["):  # [IPv6]:port
            host, _, port = part[1:].partition("]")
            port = port.removeprefix(":")
        elif ":" in part:
            host, _, port = part.rpartition(":")
        if port and not port.isdigit():
            raise SettingsError(f"SOURCE_DB_URL: port {port!r} is not a number")
        hosts.append(urllib.parse.unquote(host) or "localhost")
        ports.append(port or "5432")
    params: dict[str, object] = {"host": ",".join(hosts), "port": ",".join(ports),
                                 "dbname": urllib.parse.unquote(match["db"] or "") or None}  # fmt: skip
    for key, value in urllib.parse.parse_qsl(match["query"] or "", keep_blank_values=True):
        name = _PGJDBC_TO_LIBPQ.get(key.lower())
        if name == "target_session_attrs":
            value = {"primary": "read-write", "master": "read-write", "secondary": "read-only"}.get(value, value)
        if name:
            params[name] = value
        elif key.lower() == "ssl" and value.lower() in ("", "true") and "sslmode" not in params:
            params["sslmode"] = "require"
    if "user" not in params:
        params["user"] = _credential(settings, "source_db_user", secrets)
    if "password" not in params:
        params["password"] = _credential(settings, "source_db_password", secrets)
    return libpq_conninfo(**params)
