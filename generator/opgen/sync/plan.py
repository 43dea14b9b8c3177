"""Compare what the descriptors generate with what is on disk and in the manifest.

Actions, per file:
- create: the file does not exist;
- update: it is as opgen last wrote it (keep-regions aside), and the new output differs;
- unchanged: it already holds the new output;
- kept: it was edited by hand outside its keep-regions, and a sync leaves it as it is: opgen has
  nothing new for it, or the file already holds opgen's change (a three-way merge of what opgen
  last wrote, the file and the new output gives the file back). A kept file is in sync;
- merged: edited by hand, opgen has something new, and a three-way merge (--merge) applies both;
- conflict: edited by hand and opgen has something new that cannot be applied without a person
  (with --merge: the edits overlap, and the file gets diff3 conflict markers; or opgen has no
  record of what it wrote there, so there is nothing to merge from);
- delete: opgen wrote it for a service and no longer generates it; its keep-regions move to the
  page that replaces it or to the orphans folder;
- orphaned: like delete, but edited by hand outside its regions, so it stays.

Keep-regions whose place disappeared are never dropped: they move to the one page that replaced
theirs (a renamed SLO or service), or are saved under ops/.opgen/orphans/. A page is never filled
from two old pages: when two could move into one, both go to the orphans.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from opgen.conventions import SLO_ALERT_SUFFIXES
from opgen.render import Artifact
from opgen.sync import regions
from opgen.sync.manifest import Manifest, content_hash
from opgen.sync.write import Signature, confined, read_text

CREATE, UPDATE, UNCHANGED, KEPT, MERGED, CONFLICT, DELETE, ORPHANED = (
    "create", "update", "unchanged", "kept", "merged", "conflict", "delete", "orphaned")
WRITES = (CREATE, UPDATE, MERGED)
IN_SYNC = (UNCHANGED, KEPT)  # a sync would leave the file as it is
CONFLICT_MARKER = re.compile(r"^(<<<<<<<|>>>>>>>) ", re.MULTILINE)

NO_RECORD = "opgen has no record of writing it (adopted folder, or a new or restored manifest)"
NO_BASE = ("what opgen last wrote there is neither in this repository's history nor reproducible from the "
           "recorded inputs, so there is no three-way merge")


@dataclass(frozen=True)
class FileChange:
    path: str  # relative to the output folder
    action: str
    service: str
    new_text: str | None = None  # what the file will hold (or, for a conflict, what opgen would write)
    old_text: str | None = None
    generated: str | None = None  # opgen's own output for the file (its regions filled): what the manifest records
    orphans: dict[str, str] = field(default_factory=dict)  # region name -> content with no place left
    merged_text: str | None = None  # for a --merge conflict: the file with conflict markers
    regions_moved_to: str | None = None  # for a delete: the renamed page that took its regions
    read_as: Signature | None = None  # the file as the plan read it: sync replaces or deletes it only if it still is
    why: str = ""  # for a conflict: why it could not be merged


BaseOf = Callable[[str, str], "str | None"]  # (path, service) -> what opgen last wrote there, or None


def plan_output(out_dir: Path, rendered: dict[str, list[Artifact]], manifest: Manifest, merge: bool = False,
                base_of: BaseOf | None = None, renamed: dict[str, str] | None = None) -> list[FileChange]:
    """Changes for one output folder; `rendered` maps each synced service to its artifacts (a
    service renamed away maps to none, and `renamed` maps its old name to the new one)."""
    changes = []
    generated = set()
    for service, artifacts in rendered.items():
        for artifact in artifacts:
            generated.add(artifact.path)
            changes.append(_plan_file(out_dir, service, artifact, manifest, merge, base_of))
    for path, entry in sorted(manifest.files.items()):
        if entry.service in rendered and path not in generated:
            found = read_text(confined(out_dir, path))
            if found is None:
                continue
            current, signature = found
            if manifest.written_by_opgen(path, current):
                kept = {k: v for k, v in regions.regions(current, path).items() if v.strip()}
                changes.append(FileChange(path, DELETE, entry.service, None, current, orphans=kept, read_as=signature))
            else:
                changes.append(FileChange(path, ORPHANED, entry.service, None, current, read_as=signature))
    return sorted(_follow_renames(changes, renamed or {}), key=lambda ch: ch.path)


def _plan_file(out_dir: Path, service: str, artifact: Artifact, manifest: Manifest, merge: bool,
               base_of: BaseOf | None) -> FileChange:
    path = artifact.path
    found = read_text(confined(out_dir, path))
    if found is None:
        return FileChange(path, CREATE, service, artifact.text, generated=artifact.text)
    current, signature = found
    new_text, homeless = regions.fill(artifact.text, regions.regions(current, path), path)
    change = FileChange(path, UNCHANGED, service, new_text, current, generated=new_text, read_as=signature)
    if CONFLICT_MARKER.search(regions.blank(current, path)):
        return replace(change, action=CONFLICT, why="it holds conflict markers: resolve them")
    if current == new_text:
        return change
    if manifest.written_by_opgen(path, current):
        return replace(change, action=UPDATE, orphans=homeless)
    entry = manifest.files.get(path)
    if entry is None:
        return replace(change, action=CONFLICT, why=NO_RECORD)
    if entry.sha256 == content_hash(new_text, path):
        return replace(change, action=KEPT)  # hand edits, and nothing new from opgen
    base = base_of(path, entry.service) if base_of else None
    if base is None:
        return replace(change, action=CONFLICT, why=NO_BASE)
    base = regions.fill(base, regions.regions(current, path), path)[0]  # regions are the file's, on every side
    merged, clean = three_way_merge(base, current, new_text)
    if clean and merged == current:
        return replace(change, action=KEPT)  # the file already holds opgen's change
    if merge and clean:
        return replace(change, action=MERGED, new_text=merged, orphans=homeless)
    if merge:
        return replace(change, action=CONFLICT, merged_text=merged, why="your edits and opgen's overlap")
    return replace(change, action=CONFLICT, why="edited by hand, and opgen has changes for it")


def three_way_merge(base: str, ours: str, theirs: str) -> tuple[str, bool]:
    """git merge-file --diff3: the human's edits (ours) and opgen's change since `base` (theirs)."""
    import merge3

    merger = merge3.Merge3(base.splitlines(keepends=True), ours.splitlines(keepends=True), theirs.splitlines(keepends=True))
    lines = list(merger.merge_lines(name_a="your edits", name_b="opgen now", name_base="opgen before", base_marker="|||||||"))
    clean = not any(kind == "conflict" for kind, *_ in merger.merge_regions())
    return "".join(lines), clean


def _follow_renames(changes: list[FileChange], renamed: dict[str, str]) -> list[FileChange]:
    """A deleted page whose regions have content hands them to the one new page that replaces it:
    the same page of a renamed service (runbooks/orders/X.md -> runbooks/purchases/X.md), else the
    page of the same alert kind after a changed leading word (AvailabilityBudgetBurn.md ->
    SuccessBudgetBurn.md when the availability SLO became success). A page that two deleted pages
    could move into takes neither: both go to the orphans, since guessing would bury one."""
    created = {c.path: c for c in changes if c.action == CREATE}
    gone = {c.path: c for c in changes if c.action == DELETE and c.orphans}
    candidates = {}
    for old in gone.values():
        moved = _moved_path(old.path, old.service, renamed)
        service = renamed.get(old.service, old.service)
        same = [p for p, new in created.items() if new.service == service and p == moved and old.service in renamed]
        candidates[old.path] = same or [p for p, new in created.items() if new.service == service and _same_role(moved, p)]
    claims = Counter(target for targets in candidates.values() for target in targets)
    updated: dict[str, FileChange] = {}
    for old_path, targets in sorted(candidates.items()):
        if len(targets) == 1 and claims[targets[0]] == 1:
            target = created[targets[0]]
            filled, leftover = regions.fill(target.new_text, gone[old_path].orphans, target.path)
            updated[target.path] = replace(target, new_text=filled, generated=filled)
            updated[old_path] = replace(gone[old_path], orphans=leftover, regions_moved_to=target.path)
    return [updated.get(c.path, c) for c in changes]


def _moved_path(path: str, service: str, renamed: dict[str, str]) -> str:
    """Where `path` of `service` would be under the service's new name (as it is if not renamed):
    its name in either spelling opgen puts in paths (orders-api, orders_api) replaced as a whole."""
    new = renamed.get(service)
    if new is None:
        return path
    for old_spelling, new_spelling in ((service, new), (service.replace("-", "_"), new.replace("-", "_"))):
        path = re.sub(rf"(?<![A-Za-z0-9_-]){re.escape(old_spelling)}(?![A-Za-z0-9-])",
                      lambda _, spelling=new_spelling: spelling, path)
    return path


def _same_role(old: str, new: str) -> bool:
    """The page of the same alert kind of a renamed SLO, in the same folder."""
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
