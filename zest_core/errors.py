"""The one exception type that the CLI turns into a clear message and a non-zero exit."""


class ZestError(Exception):
    """A problem the user can fix: bad input, a missing model, an unreachable server."""
