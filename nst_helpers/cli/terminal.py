"""What the `nst` command says and how it stops: safe printing, signals, and results kept.

`Terminal` is the CLI's one way to talk and to end. It prints names safely (`printable`: control
characters and bytes that are not UTF-8 escaped, so a file name or a recipe can't send raw
terminal escapes), survives a closed or full standard output, turns SIGTERM into the same clean
stop as Ctrl-C (held back while a result is being written), and `keep` writes a result or, when
that fails, saves it under a safe name elsewhere and says where.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from nst_helpers.errors import NSTError

# C0/C1 controls, format characters that reorder or hide text, and lone surrogates (bytes of a
# file name that are not UTF-8, as Python keeps them).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ud800-\udfff]"
)


def printable(text: object, newlines: bool = False) -> str:
    """`text` with control characters and undecodable bytes escaped (`\\x1b`, `\\xff`, `\\u202e`).

    Example:
        >>> printable("cat\\x1b[2J.jpg")
        'cat\\\\x1b[2J.jpg'
    """

    def escape(found: re.Match) -> str:
        code = ord(found[0])
        if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for the byte code - 0xDC00
            return f"\\x{code - 0xDC00:02x}"
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    text = str(text)
    if newlines:
        return "\n".join(_UNSAFE.sub(escape, line) for line in text.split("\n"))
    return _UNSAFE.sub(escape, text)


class Terminal:
    """The CLI's standard streams and signals for one command (a context manager).

    Attributes:
        terminated: SIGTERM arrived (exit 143 rather than Ctrl-C's 130).
        interrupted: Ctrl-C or SIGTERM arrived while a result was being written (it was
            finished first).
        written: The files written so far.
    """

    def __init__(self) -> None:
        self.terminated = False
        self.interrupted = False
        self.written: list[Path] = []
        self._deferring = False
        self._stdout_gone = False
        self._stdout_failed = False
        self._previous: dict = {}

    def __enter__(self) -> Terminal:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _on_signal(self, signum, frame) -> None:
        if signum == signal.SIGTERM:
            self.terminated = True
        if self._deferring:  # finish writing the result first
            self.interrupted = True
            return
        raise KeyboardInterrupt  # the loop ends on it and keeps the best image

    # --- speaking -----------------------------------------------------------------------------
    def say(self, text: str) -> None:
        """Prints to standard output; a closed or full one costs nothing but this line."""
        if self._stdout_gone:
            return
        stream = sys.stdout
        try:
            print(_encodable(printable(text, newlines=True), stream), file=stream, flush=True)
        except BrokenPipeError:  # the reader went away (`nst --recipe R.png | head`)
            self.close_stdout()
        except OSError as err:  # e.g. standard output is a file on a full disk
            self.close_stdout()
            self._stdout_failed = True
            kept = f"; {', '.join(map(str, self.written))} was written" if self.written else ""
            self.error(f"could not write to standard output ({err.strerror or err}){kept}.")

    def note(self, text: str, prefix: str = "nst: ", newlines: bool = False) -> None:
        """Information on standard error: one line, or with `newlines` the lines of a text of
        our own (a tile plan), its other control characters still escaped."""
        self._stderr(prefix + text, newlines)

    def error(self, text: str) -> None:
        """The one line of an error, on standard error."""
        self._stderr("nst: error: " + text)

    def _stderr(self, line: str, newlines: bool = False) -> None:
        stream = sys.stderr
        with contextlib.suppress(OSError):  # nowhere left to say it
            print(_encodable(printable(line, newlines), stream), file=stream, flush=True)

    def close_stdout(self) -> None:
        """Points standard output at /dev/null, so nothing more (not even the final flush at
        exit) fails on it."""
        self._stdout_gone = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # not a real file (a test's capture)
            pass

    def exit_code(self, code: int) -> int:
        """`code`, or the failure of standard output if the command itself succeeded."""
        if code == 0 and self._stdout_failed:
            return 1
        if code == 0 and self._stdout_gone:
            return 141  # as a Unix tool killed by SIGPIPE
        return code

    # --- results ------------------------------------------------------------------------------
    def keep(self, save: Callable[[Path], object], path: Path) -> Path:
        """Calls `save(path)`; if that fails, saves under a safe name nearby and raises NSTError.

        Ctrl-C and SIGTERM wait until the file is written. The safe name is tried beside
        `path`, then in the current folder, then in the temporary folder.

        Returns:
            `path`, written.

        Raises:
            NSTError: `path` could not be written; the message says where the result went.
        """
        self._deferring = True
        try:
            try:
                save(path)
            except (OSError, NSTError) as err:
                reason = getattr(err, "strerror", None) or str(err)
                rescued, problem = self._rescue(save, path)
                if rescued is not None:
                    raise NSTError(
                        f"could not write '{path}' ({reason}); the result was saved to "
                        f"'{rescued}' instead."
                    ) from None
                raise NSTError(
                    f"could not write '{path}' ({reason}), nor a copy beside it, here or in the "
                    f"temporary folder ({problem}): free some space or choose another -o."
                ) from None
            self.written.append(path)
            return path
        finally:
            self._deferring = False

    def _rescue(self, save, path: Path) -> tuple[Path | None, str]:
        name = f"nst-rescued-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}{path.suffix}"
        problem = ""
        for folder in _unique([path.parent, Path.cwd(), Path(tempfile.gettempdir())]):
            candidate = folder / name
            try:
                if candidate.exists():
                    continue
                save(candidate)
            except (OSError, NSTError) as err:
                problem = getattr(err, "strerror", None) or str(err)
                continue
            self.written.append(candidate)
            return candidate, ""
        return None, problem


def _unique(folders: Sequence[Path]) -> list[Path]:
    seen, unique = set(), []
    for folder in folders:
        try:
            key = folder.resolve()
        except (OSError, RuntimeError):
            continue
        if key not in seen:
            seen.add(key)
            unique.append(folder)
    return unique


def _encodable(text: str, stream) -> str:
    """`text` as `stream` can encode it (a terminal in ASCII or Latin-1 gets escapes)."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        return text.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:
        return text


@contextmanager
def captured_stderr(drop: Sequence[str]) -> Iterator[None]:
    """Holds back what is written to file descriptor 2 inside the block (also by C++ code),
    then writes it out without the lines that contain any of `drop`."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines()
            kept = [line for line in lines if line.strip() and not any(d in line for d in drop)]
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)


# TensorFlow and absl log these at start-up whatever TF_CPP_MIN_LOG_LEVEL says: noise to a
# newcomer (no GPU is not an error here). Other lines printed while it starts are kept.
_STARTUP_NOISE = (
    "Unable to register cu",  # cuFFT / cuDNN / cuBLAS factory
    "All log messages before absl::InitializeLog",
    "computation placer already registered",
    "failed call to cuInit",
    "Could not find cuda drivers",
    "oneDNN custom operations",
    "This TensorFlow binary is optimized",
    "To enable the following instructions",
    "TF-TRT Warning",
    "Skipping registering GPU devices",
    "cuda_executor",
    "Cannot dlopen some GPU libraries",
)


@contextmanager
def quiet_tensorflow_logs() -> Iterator[None]:
    """Import TensorFlow inside this block (and look for a GPU) without its start-up noise.

    TensorFlow writes registration and driver lines straight to file descriptor 2, some before
    `TF_CPP_MIN_LOG_LEVEL` (set to 2 here unless already set) is read; a notebook shows them as
    red blocks that look like a broken install. They are dropped; any other line written to file
    descriptor 2 inside the block is printed after it, and exceptions propagate.

    Example::

        with quiet_tensorflow_logs():
            import tensorflow as tf
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with captured_stderr(drop=_STARTUP_NOISE):
        yield


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow (and looks for a GPU, where cuInit logs) with start-up noise hidden."""
    if "tensorflow" in sys.modules:
        return
    with quiet_tensorflow_logs():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
