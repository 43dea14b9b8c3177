"""The content hash of each generated file, by its stat, so a sync can tell that a file is still
as opgen wrote it without reading it (as git's index does). One file per sync, in the fleet
folder's state (conventions.STAT_CACHE_PATH), for every output folder of the sync.

Per machine and not committed: keys are resolved paths. An entry counts only while the file's
size, mtime, ctime and inode are as recorded, and only when the file was last changed before the
cache was written: a file changed in the same clock tick as the cache (git's "racily clean"
case) is read again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from opgen.errors import FileError
from opgen.paths import read_text
from opgen.sync.manifest import content_hash


def _stat_key(stat: os.stat_result) -> str:
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}:{stat.st_ino}"


class StatCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, list[str]] = {}  # path -> [stat key, content hash]
        self.changed = False
        self._written_ns = -1
        try:  # a cache that cannot be read is as good as none
            found = read_text(path)
            if found is not None:
                self._written_ns = found[1][3]
                data = json.loads(found[0])
                if isinstance(data, dict) and all(isinstance(v, list) and len(v) == 2 for v in data.values()):
                    self.entries = data
        except (FileError, ValueError, RecursionError):
            self.entries = {}

    def matches(self, path: str, sha256: str) -> bool:
        """Whether the file's content hash (keep-regions blank) is `sha256`; reads it unless its stat says."""
        try:
            stat = os.stat(path)
        except OSError:
            return False
        cached = self.entries.get(path)
        if cached is not None and cached[0] == _stat_key(stat) and stat.st_mtime_ns < self._written_ns:
            return cached[1] == sha256
        try:
            found = read_text(Path(path))  # as sync.plan reads it: never blocks, never unbounded
        except FileError:
            return False  # the plan reads it again and says what is wrong
        if found is None:
            return False
        digest = content_hash(found[0], path)
        self.record(path, digest, stat)
        return digest == sha256

    def record(self, path: str, digest: str, stat: os.stat_result | None = None) -> None:
        """`digest` is the content hash of the file at `path` as it is now (stat taken now unless given)."""
        try:
            stat = stat or os.stat(path)
        except OSError:
            return
        self.entries[path] = [_stat_key(stat), digest]
        self.changed = True

    def save(self) -> None:
        """Best effort, after every file it describes was written: a cache that cannot be written
        only means reading the files next time."""
        from opgen.sync.write import atomic_write

        if not self.changed:
            return
        try:  # entries of files since deleted stay: a stat that fails matches nothing
            atomic_write(self.path, json.dumps(self.entries, separators=(",", ":"), sort_keys=True) + "\n", durable=False)
        except (OSError, FileError):
            pass
