"""The engine's own error: a run cannot start or continue for a reason its user can fix."""


class EngineError(RuntimeError):
    """A run cannot start or continue for a reason its user can fix (reported as failed)."""
