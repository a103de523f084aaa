"""The one error type users see: a single line naming the file (or value) and the problem."""


class MyqasrError(Exception):
    """A user-facing error. The CLI prints `myqasr: error: <message>` and exits with status 2, no traceback."""
