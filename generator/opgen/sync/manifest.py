"""ops/.opgen/manifest.json: what opgen last wrote, by file, with its content hash and git blob
id; and, by service, what those files were made from (sync/inputs.py).

A file whose bytes (keep-regions aside) differ from its recorded hash was edited by hand. What
opgen wrote is not kept a second time: the blob id finds it in the repository's history, or the
service is rendered again from its recorded descriptor (sync/base.py). A service whose inputs and
neighbourhood hash as recorded would come out as recorded: a sync need not render it again.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from opgen import __version__
from opgen import conventions as c
from opgen.sync.write import SyncError, read_text, state_path

# 2 added "services"; 3 added each file's git blob id, the writer's version and each record's
# descriptor text, and dropped the base store (.opgen/base/). Older manifests are read.
MANIFEST_VERSION = 3
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
_HEX = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def content_hash(text: str, path: str) -> str:
    """The hash of what opgen is responsible for in a file at `path`: keep-regions count as empty."""
    from opgen.sync.regions import blank

    return hashlib.sha256(blank(text, path).encode("utf-8")).hexdigest()


def blob_id(data: bytes | str) -> str:
    """The id git gives these bytes as a blob (`git hash-object`): how the base is found again."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Entry:
    service: str
    sha256: str
    blob: str = ""  # git blob id of the whole text opgen wrote ("" in manifests before version 3)


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
    source: str = ""  # the descriptor's text as synced: to render what opgen wrote again (sync/base.py)
    rule_budget: dict = field(default_factory=dict)  # rule_budget.ServiceBudget.to_json(), when a ruler limit asked for it
    # The fleet files' record only: the key of the journeys resolved (sync.load.SyncJourneys), whose
    # warnings are then `warnings`, each with its journey's name in place of a file.
    journeys: str = ""

    def to_json(self) -> dict:
        found = {"descriptor": self.descriptor, "inputs": self.inputs, "neighbourhood": self.neighbourhood,
                 "fleet": self.fleet, "blueprint": self.blueprint, "facts": self.facts, "warnings": [list(w) for w in self.warnings],
                 "name_line": list(self.name_line), "source": self.source}
        found |= {"rule_budget": self.rule_budget} if self.rule_budget else {}
        return found | ({"journeys": self.journeys} if self.journeys else {})

    @classmethod
    def from_json(cls, data: dict) -> Record:
        return cls(str(data["descriptor"]), str(data["inputs"]), str(data["neighbourhood"]), str(data["fleet"]),
                   None if data["blueprint"] is None else str(data["blueprint"]), dict(data["facts"]),
                   tuple((str(f), int(line), int(col), str(m)) for f, line, col, m in data["warnings"]),
                   (int(data["name_line"][0]), int(data["name_line"][1])), str(data.get("source", "")),
                   dict(data.get("rule_budget", {})), str(data.get("journeys", "")))


@dataclass
class Manifest:
    files: dict[str, Entry] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)  # path -> hash a killed sync was writing
    services: dict[str, Record] = field(default_factory=dict)  # by service name (and conventions.FLEET_OWNER)
    written_by: str = ""  # the opgen version that wrote it

    def written_by_opgen(self, path: str, text: str) -> bool:
        """Whether `text` (keep-regions aside) is what opgen last wrote, or was writing when killed."""
        digest = content_hash(text, path)
        entry = self.files.get(path)
        return (entry is not None and entry.sha256 == digest) or self.pending.get(path) == digest

    def to_json(self) -> str:
        data = {
            "version": MANIFEST_VERSION,
            "opgen": __version__,
            "files": {path: {"service": e.service, "sha256": e.sha256, "blob": e.blob} for path, e in sorted(self.files.items())},
            "services": {name: record.to_json() for name, record in sorted(self.services.items())},
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def manifest_file(out_dir: Path) -> Path:
    return state_path(out_dir, c.MANIFEST_PATH)


def orphans_file(out_dir: Path, relative: str, region: str) -> Path:
    return state_path(out_dir, f"{c.ORPHANS_DIR}/{relative}.{region}")


class ManifestError(SyncError):
    pass


def _no_constants(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(text: str, shown: Path) -> object:
    """Strict JSON (no NaN or Infinity); any failure, however deep the nesting, is a ManifestError."""
    try:
        return json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else " ".join(str(exc).split())
        raise ManifestError(_unreadable(shown, reason)) from None


def _unreadable(shown: Path, reason: str) -> str:
    return (f"{shown}: not a manifest opgen can read ({reason}); restore it from version control, or delete it "
            "to adopt the folder (every file then counts as edited by hand until it is what opgen writes)")


_parsed: dict[Path, tuple[tuple, Manifest]] = {}  # manifest file -> (its signature, what it held)


def read_manifest(out_dir: Path) -> Manifest:
    """The manifest, an empty one when there is none (every file then counts as not written by
    opgen, so nothing is overwritten blindly), with the journal of a sync that was killed before
    it could write the manifest. ManifestError when it cannot be read: a corrupt manifest must not
    silently turn into "opgen wrote nothing". A sync reads each manifest twice (load, then plan
    under the lock): the second read is parsed again only if the file changed."""
    path = manifest_file(out_dir)
    found = read_text(path, MAX_MANIFEST_BYTES)
    if found is None:
        return Manifest({}, read_pending(out_dir).files)
    text, signature = found
    known = _parsed.get(path)
    if known is not None and known[0] == signature:
        manifest = known[1]
    else:
        manifest = _parse_manifest(text, path)
        if len(_parsed) > 100_000:
            _parsed.clear()
        _parsed[path] = (signature, manifest)
    return Manifest(dict(manifest.files), read_pending(out_dir).files, dict(manifest.services), manifest.written_by)


def _parse_manifest(text: str, shown: Path) -> Manifest:
    data = parse_json(text, shown)
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise ManifestError(_unreadable(shown, "it is not an object with \"files\""))
    version, writer = data.get("version", 1), data.get("opgen")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= MANIFEST_VERSION:
        who = f"opgen {writer}" if isinstance(writer, str) else "an opgen newer than this one"
        raise ManifestError(f"{shown}: written by {who} (manifest version {version!r}); this opgen ({__version__}) "
                            f"reads versions 1 to {MANIFEST_VERSION}: upgrade opgen to sync this folder")
    files = {}
    for path, entry in data["files"].items():
        if not (isinstance(entry, dict) and isinstance(entry.get("service"), str) and isinstance(entry.get("sha256"), str)
                and _HEX.fullmatch(entry["sha256"]) and isinstance(entry.get("blob", ""), str)):
            raise ManifestError(_unreadable(shown, f"the entry of {path!r} is not {{service, sha256, blob}}"))
        files[path] = Entry(entry["service"], entry["sha256"], entry.get("blob", ""))
    try:  # records only speed a sync up: one that cannot be read is as good as none
        services = {str(name): Record.from_json(r) for name, r in data.get("services", {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        services = {}
    return Manifest(files, {}, services, writer if isinstance(writer, str) else "")


@dataclass
class Journal:
    """The write-ahead journal (.opgen/pending.json), written before a sync stages any file and
    removed after its manifest: the hashes it is writing (so a file a killed sync already rewrote
    is still known as opgen's), its token and every file it stages (so the next sync deletes
    exactly the temporaries it left)."""

    token: str = ""
    files: dict[str, str] = field(default_factory=dict)  # path -> content hash
    targets: list[str] = field(default_factory=list)  # every path staged, relative to the output folder

    def to_json(self) -> str:
        return json.dumps({"token": self.token, "files": dict(sorted(self.files.items())), "targets": sorted(self.targets)},
                          indent=2) + "\n"


def pending_file(out_dir: Path) -> Path:
    return state_path(out_dir, c.PENDING_PATH)


def read_pending(out_dir: Path) -> Journal:
    found = read_text(pending_file(out_dir), MAX_MANIFEST_BYTES)
    if found is None:
        return Journal()
    try:
        data = json.loads(found[0], parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return Journal()
    if isinstance(data, dict) and isinstance(data.get("files"), dict):  # version 3
        targets = data.get("targets", [])
        return Journal(str(data.get("token", "")), {str(p): str(h) for p, h in data["files"].items()},
                       [str(t) for t in targets] if isinstance(targets, list) else [])
    if isinstance(data, dict):  # before: {path: hash}
        return Journal("", {str(p): str(h) for p, h in data.items()})
    return Journal()
