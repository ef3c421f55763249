"""The one exception type that the CLI turns into a clear message and a non-zero exit."""


class ZestError(Exception):
    """A problem the user can fix: bad input, a missing model, an unreachable server."""


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM: a BaseException so that no ``except Exception`` swallows it. The
    pipeline fills in ``version_id`` once the version is marked failed, for the resume hint."""

    def __init__(self, signum: int, version_id: int | None = None):
        super().__init__(signum, version_id)
        self.signum = signum
        self.version_id = version_id
