"""The pipeline's one error type: its message is a single line a user can act on."""


class PipelineError(RuntimeError):
    """A stage cannot run in this environment (missing source, unreachable broker, unwritable lakehouse)."""
