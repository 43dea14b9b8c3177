"""One sync at a time per output folder: an OS lock on .opgen/lock."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

from opgen import conventions as c
from opgen.sync.write import SyncError, make_folders, state_path


class LockTimeout(SyncError):
    pass


@contextmanager
def locked(out_dirs: list[Path], timeout: float):
    """A second sync of the same folder waits for the lock, then gives up."""
    locks = []
    try:
        for out_dir in sorted(out_dirs):  # always in the same order, so two syncs cannot deadlock
            path = state_path(out_dir, c.LOCK_PATH)
            make_folders(path.parent)
            locks.append(_FolderLock(path, timeout))
        yield
    finally:
        for lock in reversed(locks):
            lock.release()


class _FolderLock:
    """An OS lock on the file `path` (flock, taken in a few microseconds: a fleet takes a thousand);
    filelock where there is no fcntl. LockTimeout after `timeout` seconds. The lock file is opened
    without following a symlink: a link cannot make opgen create a file elsewhere."""

    def __init__(self, path: Path, timeout: float) -> None:
        try:
            import fcntl
        except ImportError:  # Windows
            from filelock import FileLock, Timeout

            self._filelock = FileLock(str(path))
            try:
                self._filelock.acquire(timeout=timeout)
            except Timeout:
                raise LockTimeout(self._message(path, timeout)) from None
            return
        self._filelock = None
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise SyncError(f"cannot open the lock {path}: {exc.strerror or exc}") from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self._fd)
                    raise LockTimeout(self._message(path, timeout)) from None
                time.sleep(0.05)

    @staticmethod
    def _message(path: Path, timeout: float) -> str:
        return (f"another opgen sync has held {path} for {timeout:g}s; "
                "wait for it to finish (or remove the lock file if no sync runs)")

    def release(self) -> None:
        if self._filelock is not None:
            self._filelock.release()
        else:
            os.close(self._fd)  # closing the file drops its flock
