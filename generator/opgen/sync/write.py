"""Atomic file writes, confined to the output folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class OutsideOutputError(Exception):
    pass


def confined(out_dir: Path, relative: str) -> Path:
    """out_dir/relative, refusing any path (or symlink on the way) that leads outside out_dir."""
    root = out_dir.resolve()
    target = (out_dir / relative).resolve()
    if not target.is_relative_to(root):
        raise OutsideOutputError(f"{out_dir / relative} resolves outside the output folder {out_dir}")
    return out_dir / relative


TEMP_SUFFIX = ".tmp"


def remove_leftover_temp_files(out_dir: Path) -> None:
    """Temporary files of a sync that was killed mid-write (run under the sync lock, so no other
    sync is writing them)."""
    if not out_dir.is_dir():
        return
    for leftover in out_dir.rglob(f".*{TEMP_SUFFIX}"):
        if leftover.is_file() and not leftover.is_symlink():
            leftover.unlink(missing_ok=True)


def atomic_write(path: Path, text: str, durable: bool = True) -> None:
    """Write to a temporary file beside `path`, then rename: readers see the old or the new file,
    never half. `durable`: flushed to disk before the rename, so a power cut leaves one or the other too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if path.exists():
            os.chmod(temp, path.stat().st_mode & 0o777)
        else:
            os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise


def _rename(temp: str, path: Path) -> None:
    """Where a staged file becomes visible: each call is a state a killed sync can leave."""
    os.replace(temp, path)


def _flush_to_disk() -> None:
    sync = getattr(os, "sync", None)
    if sync is not None:
        sync()


class Batch:
    """Atomic writes of many files with two flushes to disk in all, rather than one per file:
    each file is written to a temporary beside it (`stage`), then one flush, then every rename in
    the order staged (`commit`: files, then removals, then the files staged `last`), then one more
    flush. Killed or failing before the renames, nothing changed; after, each file is old or new."""

    def __init__(self) -> None:
        self._staged: list[tuple[str, Path]] = []
        self._last: list[tuple[str, Path]] = []
        self._removals: list[Path] = []
        self._folders: set[Path] = set()
        self.durable = getattr(os, "sync", None) is not None  # else each file is flushed as it is staged

    def stage(self, path: Path, text: str, last: bool = False) -> None:
        if path.parent not in self._folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(path.parent)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        (self._last if last else self._staged).append((temp, path))
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            if not self.durable:
                handle.flush()
                os.fsync(handle.fileno())
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
        os.chmod(temp, mode)

    def remove(self, path: Path) -> None:
        self._removals.append(path)

    def commit(self) -> None:
        if self.durable:
            _flush_to_disk()
        for temp, path in self._staged:
            _rename(temp, path)
        self._staged = []
        for path in self._removals:
            path.unlink(missing_ok=True)
        for temp, path in self._last:
            _rename(temp, path)
        self._last = []
        if self.durable:
            _flush_to_disk()

    def abort(self) -> None:
        """Remove the temporaries not yet renamed (after a failure)."""
        for temp, _ in self._staged + self._last:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
        self._staged, self._last = [], []
