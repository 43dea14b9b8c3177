"""ops/.opgen/manifest.json: what opgen last wrote, by file, with its content hash.

A file whose bytes differ from its recorded hash was edited by hand.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from opgen import conventions as c

MANIFEST_VERSION = 1


def content_hash(text: str) -> str:
    """The hash of what opgen is responsible for in a file: keep-regions count as empty."""
    from opgen.sync.regions import blank

    return hashlib.sha256(blank(text).encode("utf-8")).hexdigest()


@dataclass
class Entry:
    service: str
    sha256: str


@dataclass
class Manifest:
    files: dict[str, Entry] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)  # path -> hash a killed sync was writing

    def written_by_opgen(self, path: str, text: str) -> bool:
        """Whether `text` (keep-regions aside) is what opgen last wrote, or was writing when killed."""
        digest = content_hash(text)
        entry = self.files.get(path)
        return (entry is not None and entry.sha256 == digest) or self.pending.get(path) == digest

    def to_json(self) -> str:
        data = {
            "version": MANIFEST_VERSION,
            "files": {path: {"service": e.service, "sha256": e.sha256} for path, e in sorted(self.files.items())},
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def manifest_file(out_dir: Path) -> Path:
    return out_dir / c.MANIFEST_PATH


def base_file(out_dir: Path, relative: str) -> Path:
    """Where the base store keeps what opgen last wrote to `relative`: the base of three-way merges,
    and how sync tells "opgen has nothing new" from "opgen has a change for a hand-edited file"."""
    return out_dir / c.BASE_DIR / relative


def read_base(out_dir: Path, relative: str) -> str | None:
    try:
        return base_file(out_dir, relative).read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError, IsADirectoryError, NotADirectoryError):
        return None


def orphans_file(out_dir: Path, relative: str, region: str) -> Path:
    return out_dir / c.ORPHANS_DIR / f"{relative}.{region}"


def read_manifest(out_dir: Path) -> Manifest:
    """The manifest, or an empty one when there is none or it cannot be read (every file then
    counts as not written by opgen, so nothing is overwritten blindly), with the journal of a
    sync that was killed before it could write the manifest."""
    try:
        data = json.loads(manifest_file(out_dir).read_text(encoding="utf-8"))
        files = {p: Entry(e["service"], e["sha256"]) for p, e in data["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        files = {}
    return Manifest(files, read_pending(out_dir))


def pending_file(out_dir: Path) -> Path:
    """The write-ahead journal: the hashes a sync is about to write, written before any file and
    removed after the manifest, so a file a killed sync already rewrote is still known as opgen's."""
    return out_dir / c.PENDING_PATH


def read_pending(out_dir: Path) -> dict[str, str]:
    try:
        data = json.loads(pending_file(out_dir).read_text(encoding="utf-8"))
        return {str(path): str(digest) for path, digest in data.items()}
    except (OSError, ValueError, AttributeError):
        return {}


def pending_json(pending: dict[str, str]) -> str:
    return json.dumps(dict(sorted(pending.items())), indent=2) + "\n"
