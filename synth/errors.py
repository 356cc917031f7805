"""The one error type of the synthesis flow: its message is a single line that names the problem."""

__all__ = ["SynthError"]


class SynthError(RuntimeError):
    """Bad input or a missing tool; ``str(err)`` is one line, printed by ``python -m synth``."""
