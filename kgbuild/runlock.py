"""One build at a time per output folder: a lock file that names its holder.

While a build (or an export) writes into an output folder, ``<folder>/.kgbuild.lock``
holds its pid, host, start time and run id as JSON, and the process keeps an OS file lock
(``flock``) on that file. A second build into the folder fails at once with
:class:`OutputLockedError`, naming the holder. The file is removed when the holder ends.

The kernel drops the file lock when its process dies, however it dies, so a file left by
a killed build (``kill -9``, power loss) is recognised as stale: the next build on this host
takes it over and logs so. A stale file written on another host is not taken over (its
process cannot be checked from here); the error names the file to delete.

On a filesystem that refuses ``flock`` (NFS without its lock service, SMB or FUSE mounts
without locks) the build fails at once, saying so; it does not go on unlocked. A mount
where ``flock`` silently locks this host only (SMB with ``nobrl``) cannot be told from here.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from kgbuild.errors import KGBuildError
from kgbuild.processes import process_alive, this_host

__all__ = ["LOCK_NAME", "Holder", "OutputLock", "OutputLockedError", "output_lock"]

log = logging.getLogger(__name__)

LOCK_NAME = ".kgbuild.lock"


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) an output folder's lock."""

    pid: int
    host: str
    started_at: str
    purpose: str = "build"
    run_id: str | None = None

    @classmethod
    def current(cls, purpose: str, run_id: str | None = None) -> Holder:
        """This process, now."""
        started = datetime.now(UTC).isoformat(timespec="seconds")
        return cls(os.getpid(), this_host(), started, purpose, run_id)

    def describe(self) -> str:
        """``kgbuild build run_... (pid 123 on host h, started ...)``."""
        run = f" {self.run_id}" if self.run_id else ""
        return (
            f"kgbuild {self.purpose}{run} (pid {self.pid} on host {self.host}, "
            f"started {self.started_at})"
        )


class OutputLockedError(KGBuildError):
    """Another build holds the output folder (or left a lock that cannot be checked)."""

    def __init__(self, message: str, holder: Holder | None) -> None:
        super().__init__(message)
        self.holder = holder


class OutputLock:
    """The lock of one output folder; use as a context manager or acquire/release.

    Args:
        folder: The output folder (created if missing).
        purpose: What the holder does there (``build``, ``export``), for messages.
        run_id: The holder's run id, for messages.
    """

    def __init__(self, folder: Path, *, purpose: str = "build", run_id: str | None = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.purpose = purpose
        self.run_id = run_id
        self._fd: int | None = None

    def acquire(self) -> Holder:
        """Take the lock, or fail at once.

        Returns:
            The record written into the lock file.

        Raises:
            OutputLockedError: Another process holds it, or another host left it.
        """
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this OutputLock")
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _parse(_read(fd))
                os.close(fd)
                raise self._held(holder) from None
            except OSError as exc:  # ENOLCK, EOPNOTSUPP...: no locks on this filesystem
                os.close(fd)
                raise self._unlockable(exc) from exc
            if _same_file(fd, self.path):
                break
            os.close(fd)  # its holder removed it between our open and our lock: again
        try:
            self._take_over(_parse(_read(fd)))
            me = Holder.current(self.purpose, self.run_id)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(asdict(me)).encode("utf-8"), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return me

    def _open(self) -> int:
        """Open (create) the lock file, creating the folder; an unusable folder is an error."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            why = "it is a file" if self.folder.is_file() else str(exc)
            raise KGBuildError(
                f"cannot use {self.folder} as the output folder ({why}): give --out a "
                "folder that can be created and written to"
            ) from exc

    def release(self) -> None:
        """Remove the lock file and drop the lock (nothing if not held)."""
        if self._fd is None:
            return
        try:
            if _same_file(self._fd, self.path):
                self.path.unlink()
        finally:
            os.close(self._fd)  # drops the flock, after the file is gone
            self._fd = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def _held(self, holder: Holder | None) -> OutputLockedError:
        who = holder.describe() if holder else "another kgbuild process (starting up)"
        return OutputLockedError(
            f"{self.folder} is in use by {who}; lock file {self.path}. Wait for it to finish "
            "or build into another --out folder: one output folder holds one corpus, "
            "built by one run at a time",
            holder,
        )

    def _unlockable(self, exc: OSError) -> KGBuildError:
        """The filesystem refused ``flock`` (a network filesystem mounted without locks)."""
        return KGBuildError(
            f"cannot lock {self.path}: the filesystem of {self.folder} does not support "
            f"file locks ({exc.strerror or exc}). kgbuild needs them to keep a second build "
            "out of the folder, and SQLite needs them for a ledger there: give --out "
            "(out_dir) a folder on a local disk, or mount this one with locks"
        )

    def _take_over(self, previous: Holder | None) -> None:
        """Check a lock file left by an ended holder before replacing it."""
        if previous is None:
            return
        if previous.host != this_host():
            raise OutputLockedError(
                f"{self.folder} has a lock left by {previous.describe()}; a process on "
                f"another host cannot be checked from here. If that build is no longer "
                f"running, delete {self.path} and run again",
                previous,
            )
        state = (
            "is no longer running"
            if not process_alive(previous.pid)
            else "no longer holds it (its pid was reused)"
        )
        log.warning("taking over the stale lock %s: %s %s", self.path, previous.describe(), state)


@contextmanager
def output_lock(
    folder: Path, *, purpose: str = "build", run_id: str | None = None
) -> Iterator[OutputLock]:
    """Hold ``folder``'s lock for the block (see :class:`OutputLock`)."""
    lock = OutputLock(folder, purpose=purpose, run_id=run_id)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()


def _read(fd: int) -> bytes:
    return os.pread(fd, 64 * 1024, 0)


def _parse(data: bytes) -> Holder | None:
    """The holder a lock file names (``None``: empty or unreadable)."""
    try:
        record = json.loads(data.decode("utf-8"))
        return Holder(
            pid=int(record["pid"]),
            host=str(record["host"]),
            started_at=str(record["started_at"]),
            purpose=str(record.get("purpose", "build")),
            run_id=record.get("run_id"),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
