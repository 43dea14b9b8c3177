"""ops/.opgen/manifest.json: what opgen last wrote, by file, with its content hash; and, by
service, what those files were made from (sync/inputs.py).

A file whose bytes differ from its recorded hash was edited by hand. A service whose inputs and
neighbourhood hash as recorded would come out as recorded: a sync need not render it again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from opgen import conventions as c

MANIFEST_VERSION = 2  # 2 added "services"; a version-1 manifest reads as one without them


def content_hash(text: str) -> str:
    """The hash of what opgen is responsible for in a file: keep-regions count as empty."""
    from opgen.sync.regions import blank

    return hashlib.sha256(blank(text).encode("utf-8")).hexdigest()


@dataclass
class Entry:
    service: str
    sha256: str


@dataclass(frozen=True)
class Record:
    """How a service's files were last made. `facts` and `warnings` are what loading the
    descriptor gave, so the fleet can be built again without reading it."""

    descriptor: str  # its label (sync.run.descriptor_label)
    inputs: str  # inputs.inputs_key
    neighbourhood: str  # inputs.neighbourhood_key
    fleet: str = ""  # inputs.fleet_key of the graph it was synced in: the same graph, the same neighbourhood
    blueprint: str | None = None  # spec.blueprint, to find its file again
    facts: dict = field(default_factory=dict)  # fleet.ServiceFacts.to_json()
    warnings: tuple[tuple[str, int, int, str], ...] = ()  # (file relative to the descriptor's folder, line, column, message)
    name_line: tuple[int, int] = (1, 1)  # where metadata.name is written in the descriptor

    def to_json(self) -> dict:
        return {"descriptor": self.descriptor, "inputs": self.inputs, "neighbourhood": self.neighbourhood,
                "fleet": self.fleet, "blueprint": self.blueprint, "facts": self.facts, "warnings": [list(w) for w in self.warnings],
                "name_line": list(self.name_line)}

    @classmethod
    def from_json(cls, data: dict) -> Record:
        return cls(str(data["descriptor"]), str(data["inputs"]), str(data["neighbourhood"]), str(data["fleet"]),
                   None if data["blueprint"] is None else str(data["blueprint"]), dict(data["facts"]),
                   tuple((str(f), int(line), int(col), str(m)) for f, line, col, m in data["warnings"]),
                   (int(data["name_line"][0]), int(data["name_line"][1])))


@dataclass
class Manifest:
    files: dict[str, Entry] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)  # path -> hash a killed sync was writing
    services: dict[str, Record] = field(default_factory=dict)  # by service name (and conventions.FLEET_OWNER)

    def written_by_opgen(self, path: str, text: str) -> bool:
        """Whether `text` (keep-regions aside) is what opgen last wrote, or was writing when killed."""
        digest = content_hash(text)
        entry = self.files.get(path)
        return (entry is not None and entry.sha256 == digest) or self.pending.get(path) == digest

    def to_json(self) -> str:
        data = {
            "version": MANIFEST_VERSION,
            "files": {path: {"service": e.service, "sha256": e.sha256} for path, e in sorted(self.files.items())},
            "services": {name: record.to_json() for name, record in sorted(self.services.items())},
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


_parsed: dict[Path, tuple[tuple, Manifest]] = {}  # manifest file -> (its stat, what it held)


def read_manifest(out_dir: Path) -> Manifest:
    """The manifest, or an empty one when there is none or it cannot be read (every file then
    counts as not written by opgen, so nothing is overwritten blindly), with the journal of a
    sync that was killed before it could write the manifest. A sync reads each manifest twice
    (load, then plan under the lock): the second read is parsed again only if the file changed
    (opgen replaces it with a new file, so a new inode)."""
    path = manifest_file(out_dir)
    try:
        stat = path.stat()
        key = (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    except OSError:
        key = None
    known = _parsed.get(path)
    if key is not None and known is not None and known[0] == key:
        files, services = dict(known[1].files), dict(known[1].services)
        return Manifest(files, read_pending(out_dir), services)
    manifest = _read_manifest(out_dir)
    if key is not None:
        if len(_parsed) > 100_000:
            _parsed.clear()
        _parsed[path] = (key, Manifest(dict(manifest.files), {}, dict(manifest.services)))
    return manifest


def _read_manifest(out_dir: Path) -> Manifest:
    try:
        data = json.loads(manifest_file(out_dir).read_text(encoding="utf-8"))
        files = {p: Entry(e["service"], e["sha256"]) for p, e in data["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return Manifest({}, read_pending(out_dir))
    try:  # records only speed a sync up: one that cannot be read is as good as none
        services = {str(name): Record.from_json(r) for name, r in data.get("services", {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        services = {}
    return Manifest(files, read_pending(out_dir), services)


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
