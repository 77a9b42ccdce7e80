"""The one exception type that the command line turns into a one-line error."""


class ScvbenchError(Exception):
    """A problem with the user's input: the message names the file or argument and the fix.

    The command line prints ``scvbench: error: <message>`` and exits with status 1, without a
    traceback; every other exception is a bug and keeps its traceback.
    """
