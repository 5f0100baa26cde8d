"""Expected problems, each told to the user in one line, and the exit codes the CLI ends with."""

EXIT_SETUP = 2
EXIT_INTERRUPTED = 130


class SetupError(Exception):
    """A problem with the database set-up that the user must fix; the message is one line."""


class UsageError(Exception):
    """A wrong command line; the message lists what is valid."""
