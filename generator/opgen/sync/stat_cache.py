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

from opgen.sync.manifest import content_hash


def _stat_key(stat: os.stat_result) -> str:
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}:{stat.st_ino}"


class StatCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, list[str]] = {}  # path -> [stat key, content hash]
        self.changed = False
        self._written_ns = -1
        try:
            self._written_ns = path.stat().st_mtime_ns
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and all(isinstance(v, list) and len(v) == 2 for v in data.values()):
                self.entries = data
        except (OSError, ValueError):
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
            with open(path, encoding="utf-8") as handle:  # as sync.plan reads it
                digest = content_hash(handle.read())
        except (OSError, UnicodeDecodeError):
            return False
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

    def remove_leftovers(self) -> None:
        """The temporary file of a save that was killed (a sync holds the lock: nobody else saves)."""
        from opgen.sync.write import TEMP_SUFFIX

        for leftover in self.path.parent.glob(f".{self.path.name}.*{TEMP_SUFFIX}"):
            leftover.unlink(missing_ok=True)

    def save(self) -> None:
        """Best effort, after every file it describes was written: a cache that cannot be written
        only means reading the files next time."""
        from opgen.sync.write import atomic_write

        if not self.changed:
            return
        try:  # entries of files since deleted stay: a stat that fails matches nothing
            atomic_write(self.path, json.dumps(self.entries, separators=(",", ":"), sort_keys=True) + "\n", durable=False)
        except OSError:
            pass
