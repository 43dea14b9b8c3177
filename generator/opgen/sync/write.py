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


def atomic_write(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename: readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
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
