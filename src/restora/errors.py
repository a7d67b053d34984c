"""The one exception type restora raises for bad input, so callers and the CLI can catch it."""


class RestoraError(ValueError):
    """Bad input or configuration; the message says what is wrong and how to fix it."""
