"""The one exception type the library raises for problems a user can fix."""


class NSTError(Exception):
    """A problem with the user's input or set-up, with a message that names the fix.

    The CLI prints the message on one line and exits non-zero instead of showing a traceback.
    """
