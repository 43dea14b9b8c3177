"""Paths: how they are shown to people (relative to the current folder when below it), and how
files are read: bounded and never blocking, with a clear FileError naming the path."""

from __future__ import annotations

import os
import stat as stat_module
from functools import lru_cache
from pathlib import Path

from opgen.errors import FileError

MAX_FILE_BYTES = 64 * 1024 * 1024  # a generated file is kilobytes; a larger one is not opgen's


class FileTooLarge(FileError):
    """A file past the read limit: opgen stops reading rather than load it whole."""


def display_path(path: Path, resolved: Path | None = None) -> str:
    """`path` as shown in messages; `resolved` is path.resolve() when the caller has it already."""
    try:
        return str((resolved or path.resolve()).relative_to(_resolved_cwd(os.getcwd())))
    except (ValueError, OSError, RuntimeError):  # not below, or a symlink loop
        return str(path)


@lru_cache(maxsize=8)
def _resolved_cwd(cwd: str) -> Path:
    return Path(cwd).resolve()


Signature = tuple[int, int, int, int, int]  # device, inode, size, mtime, ctime: a file as it was read


def signature_of(info: os.stat_result) -> Signature:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def current_signature(path: Path) -> Signature | None:
    try:
        return signature_of(os.stat(path))
    except FileNotFoundError:
        return None
    except OSError:
        return (-1, -1, -1, -1, -1)  # matches nothing


def read_bytes(path: Path, limit: int = MAX_FILE_BYTES) -> tuple[bytes, Signature] | None:
    """The bytes of a regular file and its signature, or None when there is none. Never blocks
    (opened non-blocking, refused unless a regular file) and never reads more than `limit`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise FileError(f"{path} is a folder where opgen writes a file") from None
    except NotADirectoryError:
        raise FileError(f"{first_file_on_the_way(path)} is a file where opgen needs a folder") from None
    except OSError as exc:
        raise FileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat_module.S_ISDIR(info.st_mode):
            raise FileError(f"{path} is a folder where opgen writes a file")
        if not stat_module.S_ISREG(info.st_mode):
            raise FileError(f"{path} is not a regular file (a device, FIFO or socket); opgen reads only files")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileTooLarge(f"{path} is larger than {limit:,} bytes, more than opgen ever reads or writes")
        return b"".join(chunks), signature_of(info)
    except OSError as exc:
        raise FileError(f"cannot read {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_text(path: Path, limit: int = MAX_FILE_BYTES) -> tuple[str, Signature] | None:
    """read_bytes, decoded as UTF-8 (opgen writes nothing else)."""
    found = read_bytes(path, limit)
    if found is None:
        return None
    data, signature = found
    try:
        return data.decode("utf-8"), signature
    except UnicodeDecodeError as exc:
        raise FileError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                        "opgen writes UTF-8 only: fix or delete the file") from None


def first_file_on_the_way(path: Path) -> Path:
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return path
