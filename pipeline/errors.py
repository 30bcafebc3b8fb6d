"""The pipeline's one error type: its message is a single line a user can act on."""

from core.connections import redact


class PipelineError(RuntimeError):
    """A stage cannot run in this environment (missing source, unreachable broker, unwritable lakehouse)."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))  # a JDBC error may quote the URL, password included


def first_line(exc: BaseException, limit: int = 500) -> str:
    """The first line of an error's message (its type's name when it has none), at most `limit` characters, with
    credentials redacted: Spark's errors run to pages of JVM stack and may quote a JDBC URL."""
    return redact((str(exc).strip().splitlines() or [type(exc).__name__])[0])[:limit]
