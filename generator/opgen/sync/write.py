"""The only place opgen touches the output tree: bounded reads, confined paths, atomic writes.

Every path a sync reads for merging, writes or deletes goes through `confined` (generated files:
no name or symlink may lead outside the output folder) or `state_path` (opgen's own state in
.opgen/: plain files and folders only, no symlink at all). Reads are bounded and never block
(a FIFO or /dev/zero where a file should be is an error, not a hang). Temporary files carry a
name only opgen uses, with the sync's token, and the journal lists them, so a later sync deletes
exactly what a killed one left and nothing of anybody else's.
"""

from __future__ import annotations

import os
import stat as stat_module
from pathlib import Path
from typing import Callable

from opgen.errors import FileError
from opgen.paths import Signature, current_signature, first_file_on_the_way, read_text

__all__ = ["read_text", "Signature"]


class SyncError(FileError):
    """A sync cannot go on; the message names the path. Exit 2, and nothing was written."""


class OutsideOutputError(SyncError):
    pass


def confined(out_dir: Path, relative: str) -> Path:
    """out_dir/relative, refusing any path (or symlink on the way) that leads outside out_dir."""
    root = out_dir.resolve()
    try:
        target = (out_dir / relative).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise SyncError(f"{out_dir / relative}: {getattr(exc, 'strerror', None) or exc}") from None
    if not target.is_relative_to(root):
        raise OutsideOutputError(f"{out_dir / relative} resolves outside the output folder {out_dir}")
    return out_dir / relative


def state_path(out_dir: Path, relative: str) -> Path:
    """out_dir/relative for opgen's own state (.opgen/...): every part of the way below out_dir
    that exists must be a plain folder, and the file itself no symlink. A commit cannot point the
    manifest, the journal, the lock or the orphans at a file outside the tree."""
    path = out_dir
    parts = Path(relative).parts
    for index, part in enumerate(parts):
        path = path / part
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return out_dir / relative
        except OSError as exc:
            raise SyncError(f"{path}: {exc.strerror or exc}") from None
        if stat_module.S_ISLNK(info.st_mode):
            raise OutsideOutputError(f"{path} is a symlink; opgen keeps its state in plain files and folders "
                                     f"inside the output folder (remove the link)")
        if index < len(parts) - 1 and not stat_module.S_ISDIR(info.st_mode):
            raise SyncError(f"{path} is a file where opgen needs a folder")
    return out_dir / relative


def make_folders(folder: Path) -> None:
    """mkdir -p, with a clear error where a file stands in the way."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise SyncError(f"{first_file_on_the_way(folder / 'x')} is a file where opgen needs a folder") from None
    except OSError as exc:
        raise SyncError(f"cannot create {folder}: {exc.strerror or exc}") from None


TEMP_SUFFIX = ".opgen-tmp"  # only opgen names files so


def temp_name(path: Path, token: str) -> Path:
    """Where a sync with `token` stages the new content of `path`."""
    return path.with_name(f".{path.name}.{token}{TEMP_SUFFIX}")


def new_token() -> str:
    return os.urandom(6).hex()


def remove_temp_files(targets: list[Path], token: str) -> None:
    """The temporaries a killed sync with `token` staged for `targets` (its journal lists both),
    and nothing else: a regular file of exactly that name."""
    for target in targets:
        temp = temp_name(target, token)
        try:
            if stat_module.S_ISREG(os.lstat(temp).st_mode):
                os.unlink(temp)
        except OSError:
            pass


def _create_exclusive(path: Path, text: str, durable: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())


def atomic_write(path: Path, text: str, durable: bool = True) -> None:
    """For opgen's own state files (the journal, the stat cache): write `.NAME.opgen-tmp` beside
    `path`, then rename. A leftover of that name is opgen's own (a killed write): replaced."""
    make_folders(path.parent)
    temp = path.with_name(f".{path.name}{TEMP_SUFFIX}")
    try:
        try:
            _create_exclusive(temp, text, durable)
        except FileExistsError:
            if not stat_module.S_ISREG(os.lstat(temp).st_mode):
                raise SyncError(f"{temp} is in the way and is not opgen's temporary file") from None
            os.unlink(temp)
            _create_exclusive(temp, text, durable)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def _rename(temp: Path, path: Path) -> None:
    """Where a staged file becomes visible: each call is a state a killed sync can leave."""
    os.replace(temp, path)


def _flush_to_disk() -> None:
    sync = getattr(os, "sync", None)
    if sync is not None:
        sync()


ANY = "any"  # stage/remove without checking what is there (opgen's own state)


class Batch:
    """Atomic writes of many files with three flushes to disk in all, rather than one per file.

    Each file is written to a temporary beside it (`stage`); `commit` flushes, then renames each
    one over its target only if the target is still as the plan read it (`expect`: its
    signature, or None for "no file"): a file a person saved meanwhile is left, and reported in
    `changed_meanwhile`. Removals are checked the same way. Then `stage_last` stages the files
    that record the outcome (manifests), which are flushed and renamed last. Killed or failing
    before the first rename, nothing changed; after, each file is old or new."""

    def __init__(self, token: str) -> None:
        self.token = token
        self._staged: list[tuple[Path, Path, object]] = []  # (temp, target, expect)
        self._removals: list[tuple[Path, object]] = []
        self._folders: set[Path] = set()
        self.changed_meanwhile: list[Path] = []
        self.durable = getattr(os, "sync", None) is not None  # else each file is flushed as it is staged

    def stage(self, path: Path, text: str, expect: object = ANY) -> None:
        if path.parent not in self._folders:
            make_folders(path.parent)
            self._folders.add(path.parent)
        temp = temp_name(path, self.token)
        try:
            _create_exclusive(temp, text, not self.durable)
        except FileExistsError:  # staged twice in one sync: the later text wins
            os.unlink(temp)
            _create_exclusive(temp, text, not self.durable)
            self._staged = [s for s in self._staged if s[0] != temp]
        except OSError as exc:
            raise SyncError(f"cannot write {path}: {exc.strerror or exc}") from None
        self._staged.append((temp, path, expect))
        try:
            mode = os.stat(path).st_mode & 0o777
        except OSError:
            mode = 0o644
        os.chmod(temp, mode)

    def remove(self, path: Path, expect: object = ANY) -> None:
        self._removals.append((path, expect))

    def _unchanged(self, path: Path, expect: object) -> bool:
        return expect == ANY or current_signature(path) == expect

    def commit(self, stage_last: Callable[[list[Path]], None] | None = None) -> None:
        if self.durable:
            _flush_to_disk()
        for temp, path, expect in self._staged:
            if self._unchanged(path, expect):
                _rename(temp, path)
            else:
                os.unlink(temp)
                self.changed_meanwhile.append(path)
        self._staged = []
        for path, expect in self._removals:
            if self._unchanged(path, expect):
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
            else:
                self.changed_meanwhile.append(path)
        self._removals = []
        if stage_last is not None:
            stage_last(self.changed_meanwhile)
            if self.durable:
                _flush_to_disk()
            for temp, path, _ in self._staged:
                _rename(temp, path)
            self._staged = []
        if self.durable:
            _flush_to_disk()

    def abort(self) -> None:
        """Remove the temporaries not yet renamed (after a failure)."""
        for temp, _, _ in self._staged:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
        self._staged = []


def free_backup_name(path: Path) -> Path:
    """FILE.orig, or FILE.orig.1, .2 ...: a backup never overwrites an earlier one."""
    candidate = path.with_name(path.name + ".orig")
    number = 0
    while os.path.lexists(candidate):
        number += 1
        candidate = path.with_name(f"{path.name}.orig.{number}")
    return candidate
