"""Compare what the descriptors generate with what is on disk, in the manifest and in the base store.

Actions, per file:
- create: the file does not exist;
- update: it is as opgen last wrote it (keep-regions aside), and the new output differs;
- unchanged: it already holds the new output;
- kept: it was edited by hand outside its keep-regions, but opgen has nothing new for it (the new
  output is what opgen last wrote), so the edits stay and nothing needs doing;
- merged: edited by hand, opgen has something new, and a three-way merge (--merge) applies both;
- conflict: edited by hand and opgen has something new that cannot be applied without a person
  (with --merge: the edits overlap, and the file gets diff3 conflict markers);
- delete: opgen wrote it for a service and no longer generates it; its keep-regions move to a
  renamed page or to the orphans folder;
- orphaned: like delete, but edited by hand outside its regions, so it stays.

Keep-regions whose place disappeared are never dropped: they move to the page that replaced theirs
(a renamed SLO) or are saved under ops/.opgen/orphans/.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from opgen.conventions import SLO_ALERT_SUFFIXES
from opgen.render import Artifact
from opgen.sync import regions
from opgen.sync.manifest import Manifest, read_base
from opgen.sync.write import confined

CREATE, UPDATE, UNCHANGED, KEPT, MERGED, CONFLICT, DELETE, ORPHANED = (
    "create", "update", "unchanged", "kept", "merged", "conflict", "delete", "orphaned")
WRITES = (CREATE, UPDATE, MERGED)
CONFLICT_MARKER = re.compile(r"^(<<<<<<<|>>>>>>>) ", re.MULTILINE)


@dataclass(frozen=True)
class FileChange:
    path: str  # relative to the output folder
    action: str
    service: str
    new_text: str | None = None  # what the file will hold (or, for a conflict, what opgen would write)
    old_text: str | None = None
    generated: str | None = None  # opgen's own output for the file: the next merge base
    orphans: dict[str, str] = field(default_factory=dict)  # region name -> content with no place left
    merged_text: str | None = None  # for a --merge conflict: the file with conflict markers
    regions_moved_to: str | None = None  # for a delete: the renamed page that took its regions


def plan_output(out_dir: Path, rendered: dict[str, list[Artifact]], manifest: Manifest, merge: bool = False) -> list[FileChange]:
    """Changes for one output folder; `rendered` maps each synced service to its artifacts."""
    changes = []
    generated = set()
    for service, artifacts in rendered.items():
        for artifact in artifacts:
            generated.add(artifact.path)
            changes.append(_plan_file(out_dir, service, artifact, manifest, merge))
    for path, entry in sorted(manifest.files.items()):
        if entry.service in rendered and path not in generated:
            current = _read(confined(out_dir, path))
            if current is None:
                continue
            if manifest.written_by_opgen(path, current):
                kept = {k: v for k, v in regions.regions(current).items() if v.strip()}
                changes.append(FileChange(path, DELETE, entry.service, None, current, orphans=kept))
            else:
                changes.append(FileChange(path, ORPHANED, entry.service, None, current))
    return sorted(_follow_renames(changes), key=lambda ch: ch.path)


def _plan_file(out_dir: Path, service: str, artifact: Artifact, manifest: Manifest, merge: bool) -> FileChange:
    current = _read(confined(out_dir, artifact.path))
    if current is None:
        return FileChange(artifact.path, CREATE, service, artifact.text, generated=artifact.text)
    new_text, homeless = regions.fill(artifact.text, regions.regions(current))
    change = FileChange(artifact.path, UNCHANGED, service, new_text, current, generated=new_text)
    if CONFLICT_MARKER.search(regions.blank(current)):
        return replace(change, action=CONFLICT)  # unresolved markers from an earlier --merge
    if current == new_text:
        return change
    if manifest.written_by_opgen(artifact.path, current):
        return replace(change, action=UPDATE, orphans=homeless)
    base = read_base(out_dir, artifact.path)
    if base is not None and regions.blank(base) == regions.blank(artifact.text):
        return replace(change, action=KEPT)  # hand edits, and nothing new from opgen
    if merge and base is not None:
        merged, clean = three_way_merge(base, current, new_text)
        if clean:
            return replace(change, action=MERGED, new_text=merged, orphans=homeless)
        return replace(change, action=CONFLICT, merged_text=merged)
    return replace(change, action=CONFLICT)


def three_way_merge(base: str, ours: str, theirs: str) -> tuple[str, bool]:
    """git merge-file --diff3: the human's edits (ours) and opgen's change since `base` (theirs)."""
    import merge3

    merger = merge3.Merge3(base.splitlines(keepends=True), ours.splitlines(keepends=True), theirs.splitlines(keepends=True))
    lines = list(merger.merge_lines(name_a="your edits", name_b="opgen now", name_base="opgen before", base_marker="|||||||"))
    clean = not any(kind == "conflict" for kind, *_ in merger.merge_regions())
    return "".join(lines), clean


def _follow_renames(changes: list[FileChange]) -> list[FileChange]:
    """A deleted page whose regions have content hands them to the one new page that replaces it:
    same service and folder, same name after a changed leading word (AvailabilityBudgetBurn.md ->
    SuccessBudgetBurn.md when the availability SLO became success)."""
    created = [c for c in changes if c.action == CREATE]
    result = list(changes)
    for index, gone in enumerate(changes):
        if gone.action != DELETE or not gone.orphans:
            continue
        matches = [c for c in created if c.service == gone.service and _same_role(gone.path, c.path)]
        if len(matches) != 1:
            continue
        target = matches[0]
        filled, leftover = regions.fill(target.new_text, gone.orphans)
        moved = replace(target, new_text=filled)
        result[result.index(target)] = moved
        created[created.index(target)] = moved
        result[index] = replace(gone, orphans=leftover, regions_moved_to=target.path)
    return result


def _same_role(old: str, new: str) -> bool:
    old_dir, old_name = posixpath.split(old)
    new_dir, new_name = posixpath.split(new)
    if old_dir != new_dir or old_name == new_name:
        return False
    return _role(old_name) == _role(new_name) != ""


def _role(filename: str) -> str:
    """What an SLO alert's page is for, without the SLO's name: AvailabilityBudgetBurn.md -> BudgetBurn.md."""
    stem, dot, extension = filename.rpartition(".")
    suffix = next((s for s in SLO_ALERT_SUFFIXES if stem.endswith(s) and stem != s), "")
    return suffix + dot + extension if suffix else ""


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, IsADirectoryError):
        return "\0unreadable"
