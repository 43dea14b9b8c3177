"""Compare what the descriptors generate with what is on disk and in the manifest.

Actions:
- create: the file does not exist;
- update: it is as opgen last wrote it, and the new output differs;
- unchanged: it already holds the new output;
- conflict: it was edited by hand outside its keep-regions (or never written by opgen) and the new
  output differs, or a keep-region with content has no place in the new output;
- delete: opgen wrote it for a service, no longer generates it, and nobody edited it;
- orphaned: like delete, but edited by hand, so it stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from opgen.render import Artifact
from opgen.sync import regions
from opgen.sync.manifest import Manifest, content_hash
from opgen.sync.write import confined

CREATE, UPDATE, UNCHANGED, CONFLICT, DELETE, ORPHANED = "create", "update", "unchanged", "conflict", "delete", "orphaned"


@dataclass(frozen=True)
class FileChange:
    path: str  # relative to the output folder
    action: str
    service: str
    new_text: str | None = None
    old_text: str | None = None


def plan_output(out_dir: Path, rendered: dict[str, list[Artifact]], manifest: Manifest) -> list[FileChange]:
    """Changes for one output folder; `rendered` maps each synced service to its artifacts."""
    changes = []
    generated = set()
    for service, artifacts in rendered.items():
        for artifact in artifacts:
            generated.add(artifact.path)
            changes.append(_plan_file(out_dir, service, artifact, manifest))
    for path, entry in sorted(manifest.files.items()):
        if entry.service in rendered and path not in generated:
            current = _read(confined(out_dir, path))
            if current is None:
                continue
            action = DELETE if content_hash(current) == entry.sha256 else ORPHANED
            changes.append(FileChange(path, action, entry.service, None, current))
    return sorted(changes, key=lambda ch: ch.path)


def _plan_file(out_dir: Path, service: str, artifact: Artifact, manifest: Manifest) -> FileChange:
    current = _read(confined(out_dir, artifact.path))
    if current is None:
        return FileChange(artifact.path, CREATE, service, artifact.text)
    new_text, homeless = regions.fill(artifact.text, regions.regions(current))
    if current == new_text:
        return FileChange(artifact.path, UNCHANGED, service, new_text, current)
    entry = manifest.files.get(artifact.path)
    if entry is not None and entry.sha256 == content_hash(current) and not homeless:
        return FileChange(artifact.path, UPDATE, service, new_text, current)
    return FileChange(artifact.path, CONFLICT, service, new_text, current)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, IsADirectoryError):
        return "\0unreadable"
