"""The pipeline's one error type: its message is a single line a user can act on."""


class PipelineError(RuntimeError):
    """A stage cannot run in this environment (missing source, unreachable broker, unwritable lakehouse)."""


def first_line(exc: BaseException, limit: int = 500) -> str:
    """The first line of an error's message (its type's name when it has none), at most `limit` characters: Spark's
    errors run to pages of JVM stack."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]
