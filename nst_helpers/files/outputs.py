"""Every file a run writes, planned and checked before any work starts.

`plan_outputs` lists them: the result (or a sweep's contact sheet), its GIF, the numbered
snapshots and the sweep's variants. `check_outputs` refuses, in one line naming the fix, a plan
that would overwrite an input (compared after resolving links, and by inode for hard links),
write over a folder or a device, use a name the file system can't hold, or write one file twice.
`lock_outputs` keeps a second run from writing the same files while the first still runs, and
`remove_stale_temporaries` clears what a killed run left behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from nst_helpers.errors import NSTError
from nst_helpers.files.images import TEMP_MARKER

STALE_SECONDS = 600  # a temporary file this old is stale even if its writer's pid is alive
_LOCK_SUFFIX = ".nst-lock"
_TEMP = re.compile(rf"^\..*{re.escape(TEMP_MARKER)}(\d+)-[a-z0-9_]+\.tmp$")


@dataclass
class Snapshots:
    """The numbered snapshots `NAME_00050.png`... written every `every` steps below `below`."""

    output: Path
    every: int
    below: int

    def path(self, step: int) -> Path:
        return snapshot_path(self.output, step)

    def matches(self, name: str) -> bool:
        """Whether a file called `name` (in the output's folder) is one of these snapshots."""
        stem, suffix = re.escape(self.output.stem), re.escape(self.output.suffix)
        found = re.fullmatch(rf"{stem}_(\d{{5,}}){suffix}", name)
        if not found:
            return False
        step = int(found[1])
        return f"{step:05d}" == found[1] and 0 < step < self.below and step % self.every == 0


@dataclass
class OutputPlan:
    """The files a run will write: (what, path) pairs, and the snapshots if any."""

    files: list[tuple[str, Path]] = field(default_factory=list)
    snapshots: Snapshots | None = None

    def folders(self) -> list[Path]:
        """The folders written into, each once."""
        return list(dict.fromkeys(path.parent for _, path in self.files))


def snapshot_path(output: Path, step: int) -> Path:
    """Where the snapshot of `step` goes: `out.png` -> `out_00050.png`."""
    return output.with_name(f"{output.stem}_{step:05d}{output.suffix}")


def variant_path(output: Path, label: str, value: float) -> Path:
    """Where a sweep variant goes: `out.png`, "style-weight", 10 -> `out_style-weight_10.png`."""
    return output.with_name(f"{output.stem}_{label}_{value:g}{output.suffix}")


def plan_outputs(
    output: Path,
    *,
    what: str = "output (-o)",
    gif: Path | None = None,
    snapshot_every: int = 0,
    steps: int = 0,
    variants: Sequence[Path] = (),
) -> OutputPlan:
    """Lists every file a run will write (see the module docstring)."""
    plan = OutputPlan(files=[(what, Path(output))])
    plan.files += [("sweep image", Path(path)) for path in variants]
    if gif is not None:
        plan.files.append(("GIF (--gif)", Path(gif)))
    if snapshot_every:
        plan.snapshots = Snapshots(Path(output), snapshot_every, steps)
    return plan


def check_outputs(plan: OutputPlan, inputs: Sequence[tuple[str, Path | None]]) -> None:
    """Refuses a plan that would overwrite an input or could not be written, before any work.

    Args:
        plan: From `plan_outputs`.
        inputs: (what, path) of every file the run reads: content, styles, mask, the recipe
            PNG of a rerun, the weights file (None entries are skipped).

    Raises:
        NSTError: One line naming the output, the problem and the fix.
    """
    sources = [(what, Path(path), resolved_path(Path(path))) for what, path in inputs if path]
    seen: dict[Path, str] = {}
    for what, path in plan.files:
        _check_writable_name(path, what)
        resolved = resolved_path(path)
        if resolved in seen:
            raise NSTError(
                f"the {what} '{path}' is also the {seen[resolved]}: the run would write it twice. "
                "Choose different names (or sweep values that differ)."
            )
        seen[resolved] = what
        for source_what, source, source_resolved in sources:
            if resolved == source_resolved or _same_file(path, source):
                raise _overwrite_error(what, path, source_what, source)
    if plan.snapshots is not None:
        _check_snapshots(plan.snapshots, sources)


def _check_snapshots(snapshots: Snapshots, sources) -> None:
    what = "snapshot (--save-every)"
    last = snapshots.path(max(snapshots.below - 1, 1))
    _check_writable_name(last, what)  # the longest name
    folder = resolved_path(snapshots.output.parent)
    for source_what, source, resolved in sources:
        if resolved.parent == folder and snapshots.matches(resolved.name):
            raise _overwrite_error(what, folder / resolved.name, source_what, source)
    try:
        entries = list(os.scandir(snapshots.output.parent))
    except OSError:  # the folder does not exist yet: nothing in it to overwrite
        return
    for entry in entries:
        if snapshots.matches(entry.name):
            path = Path(entry.path)
            _check_writable_name(path, what)
            for source_what, source, _ in sources:
                if _same_file(path, source):
                    raise _overwrite_error(what, path, source_what, source)


def _overwrite_error(what: str, path: Path, source_what: str, source: Path) -> NSTError:
    flag = re.search(r"\((-o|--[a-z-]+)\)", what)
    return NSTError(
        f"the {what} '{path}' is the {source_what} '{source}': refusing to overwrite it. "
        f"Choose another name{f' with {flag[1]}' if flag else ' with -o'}."
    )


def _check_writable_name(path: Path, what: str) -> None:
    _check_length(path, what)
    if path.is_dir():
        raise NSTError(
            f"the {what} '{path}' is a folder: give a file name, e.g. '{path / 'result.png'}'."
        )
    if path.exists() and not path.is_file():
        raise NSTError(
            f"the {what} '{path}' is not a regular file (a device, pipe or socket): give the "
            "name of an image file to write."
        )


def _check_length(path: Path, what: str) -> None:
    name_max, path_max = _limits(path.parent)
    name = len(os.fsencode(path.name))
    if name > name_max:
        raise NSTError(
            f"the {what} name '{path.name[:40]}...' is {name} bytes long, more than the "
            f"{name_max} this file system allows: choose a shorter name."
        )
    full = len(os.fsencode(os.path.abspath(path)))
    if full >= path_max:
        raise NSTError(
            f"the {what} path is {full} bytes long, more than the {path_max - 1} this system "
            "allows: choose a shorter path."
        )


def _limits(folder: Path) -> tuple[int, int]:
    """(longest file name, longest path) in bytes where `folder` is (or will be created)."""
    existing = Path(os.path.abspath(folder))
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        return os.pathconf(existing, "PC_NAME_MAX"), os.pathconf(existing, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):  # not POSIX, or unknown: the usual limits
        return 255, 4096


def resolved_path(path: Path) -> Path:
    """`path` with links resolved; a link loop is an NSTError naming the link."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as err:  # a symlink loop
        raise NSTError(f"can't resolve '{path}' ({err}): fix or remove the link.") from None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


# --- while writing ----------------------------------------------------------------------------
@contextmanager
def lock_outputs(paths: Sequence[Path]) -> Iterator[None]:
    """Holds a lock on each output while the block runs, so two runs never write one file.

    The lock is an advisory `flock` on a hidden file beside the output, released (and the file
    removed) when the block ends; the kernel releases it if the process dies. Where file locks
    are unavailable (Windows, some network file systems) nothing is locked.

    Raises:
        NSTError: Another run holds the lock on one of `paths`.
    """
    with ExitStack() as stack:
        for path in sorted({resolved_path(Path(p)) for p in paths}):
            stack.enter_context(_locked(path))
        yield


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    digest = hashlib.sha256(os.fsencode(path.name)).hexdigest()[:8]
    lock = path.with_name(f".{path.name[:40]}.{digest}{_LOCK_SUFFIX}")
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:  # can't create it (e.g. a read-only share): go on unlocked
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise NSTError(
                f"another nst run (pid {holder}) is writing '{path}' right now: wait for it to "
                "finish, or choose another output name with -o."
            ) from None
        except OSError:  # no locking on this file system
            os.close(fd)
            yield
            return
        # Its last holder may have removed the file between our open and flock: then retry.
        if _same_inode(fd, lock):
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        Path(lock).unlink(missing_ok=True)  # still holding it, so no one else has it
        os.close(fd)


def _same_inode(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def remove_stale_temporaries(folder: Path, names: Sequence[str] = ()) -> int:
    """Removes temporary files that a killed run of ours left in `folder`.

    Ours are `atomic_write`'s (".NAME.nst-PID-XXXX.tmp"): stale when their writer's pid is gone
    or they are older than STALE_SECONDS. Lock files no one holds go too, and the unmarked
    temporaries of older versions (".NAME.XXXXXXXX.tmp") for the `names` about to be written,
    once they are STALE_SECONDS old.

    Returns:
        How many files were removed.
    """
    legacy = [re.compile(rf"^\.{re.escape(name)}\.[a-z0-9_]{{8}}\.tmp$") for name in names]
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    now = time.time()
    for entry in entries:
        try:
            if not entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                continue
            old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS
            ours = _TEMP.match(entry.name)
            if entry.name.endswith(_LOCK_SUFFIX):
                removed += _remove_unheld_lock(Path(entry.path))
            elif (ours and (old or not _pid_alive(int(ours[1])))) or (
                old and any(p.match(entry.name) for p in legacy)
            ):
                os.unlink(entry.path)
                removed += 1
        except OSError:  # gone meanwhile, or not ours to remove
            continue
    return removed


def _remove_unheld_lock(lock: Path) -> int:
    try:
        import fcntl
    except ImportError:
        return 0
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held by a running nst: keep it
        return 0
    else:
        if _same_inode(fd, lock):
            lock.unlink()
            return 1
        return 0
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process (or can't tell): assume it is writing
    return True
