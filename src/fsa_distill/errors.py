"""User-facing errors.

Anything a user can cause (a malformed file, a bad config key, an unreachable teacher) raises
`FsaError` with a one-line message that names what and where. The CLI prints it without a
traceback and exits with code 2; library users catch it like any exception.
"""


class FsaError(Exception):
    """An error caused by input, configuration or environment, reported as one line."""

    exit_code = 2
