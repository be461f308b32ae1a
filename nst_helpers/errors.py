"""The one exception type the library raises for problems a user can fix."""


class NSTError(Exception):
    """A problem with the user's input or set-up, with a message that names the fix.

    The CLI prints the message on one line and exits non-zero instead of showing a traceback.
    """


def first_line(err: BaseException, limit: int = 120) -> str:
    """An exception's message on one short line (its type name when it has no message)."""
    text = " ".join(str(err).split()).rstrip(".") or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
