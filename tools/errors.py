"""The one error type the CLI prints as a single line (anything else keeps its traceback)."""


class LaiError(Exception):
    """A user-facing error: bad config, bad data, unreachable endpoint. Name the place and the fix."""
