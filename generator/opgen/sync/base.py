"""What opgen last wrote to a file: the base of a three-way merge, found without keeping a second
copy of the kit in the repository.

Only a file edited by hand for which opgen now has something new needs its base; everything else
is decided by the manifest's hashes. The manifest records, for each file, the git blob id of what
opgen wrote, and for each service its descriptor's text and the hashes of what its files were
made from. The base is, in this order:

1. the blob in the repository's objects (`git cat-file`): generated files are committed before
   anyone edits them, since CI runs `sync --check`;
2. the service rendered again from what it was made from: its descriptor as recorded, its
   neighbourhood rebuilt from the facts the manifests recorded, this opgen (a new opgen, or a
   changed blueprint file, renders something else, which the hash check refuses);
3. the copy an opgen before version 3 kept in .opgen/base/ (until the first sync removes it).

Each candidate counts only if its content hash is the manifest's: a wrong base is never merged.
When none is found, the file is a conflict without a merge, and sync says why.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Callable

from opgen import conventions as c
from opgen.sync.manifest import Manifest, content_hash
from opgen.sync.write import SyncError, read_text, state_path

_BLOB_ID = re.compile(r"[0-9a-f]{40}")


class GitObjects:
    """Blobs from the repository that holds a folder; none where git or a repository is missing."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._known: dict[str, bytes | None] = {}

    def blob(self, blob_id: str) -> bytes | None:
        if not _BLOB_ID.fullmatch(blob_id or ""):
            return None
        if blob_id not in self._known:
            try:
                result = subprocess.run(["git", "-C", str(self.folder), "cat-file", "blob", blob_id],
                                        capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
                self._known[blob_id] = result.stdout if result.returncode == 0 else None
            except (OSError, subprocess.SubprocessError):
                self._known[blob_id] = None
        return self._known[blob_id]


Rerender = Callable[[str], "dict[str, str] | None"]  # service -> its files as last written, or None


class Bases:
    """base(path, service) for one output folder; `rerender` renders a service as it was last synced."""

    def __init__(self, out_dir: Path, manifest: Manifest, git: GitObjects, rerender: Rerender) -> None:
        self.out_dir, self.manifest, self.git, self.rerender = out_dir, manifest, git, rerender
        self._rendered: dict[str, dict[str, str] | None] = {}

    def __call__(self, path: str, service: str) -> str | None:
        entry = self.manifest.files.get(path)
        if entry is None:
            return None
        for candidate in (self._from_git, self._rendered_again, self._from_old_store):
            text = candidate(path, entry.blob, service)
            if text is not None and content_hash(text, path) == entry.sha256:
                return text
        return None

    def _from_git(self, path: str, blob: str, service: str) -> str | None:
        data = self.git.blob(blob)
        try:
            return data.decode("utf-8") if data is not None else None
        except UnicodeDecodeError:
            return None

    def _rendered_again(self, path: str, blob: str, service: str) -> str | None:
        if service not in self._rendered:
            self._rendered[service] = self.rerender(service)
        return (self._rendered[service] or {}).get(path)

    def _from_old_store(self, path: str, blob: str, service: str) -> str | None:
        try:
            found = read_text(state_path(self.out_dir, f"{c.OLD_BASE_DIR}/{path}"))
        except SyncError:
            return None
        return found[0] if found else None
