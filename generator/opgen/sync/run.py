"""The sync pipeline: descriptors (sync/load.py) -> services -> artifacts -> plan -> (unless checking) write."""

from __future__ import annotations

import difflib
import os
import stat as stat_module
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from opgen import conventions as c
from opgen.descriptor.load import load_validated
from opgen.errors import DescriptorError, FileError
from opgen.fleet import Fleet, Neighbourhood, ServiceFacts, build_fleet
from opgen.render import RenderContext, render_all
from opgen.sync import parallel
from opgen.sync import plan as p
from opgen.sync.base import Bases, GitObjects
from opgen.sync.inputs import fleet_key, inputs_key, neighbourhood_key
from opgen.sync.load import Loaded, descriptor_label, fleet_of, load_services, record_of
from opgen.sync.lock import LockTimeout, locked
from opgen.sync.manifest import (
    Entry,
    Journal,
    Manifest,
    Record,
    blob_id,
    content_hash,
    manifest_file,
    orphans_file,
    pending_file,
    read_manifest,
    read_pending,
)
from opgen.sync.stat_cache import StatCache
from opgen.sync.write import Batch, SyncError, atomic_write, confined, free_backup_name, new_token, read_text, \
    remove_temp_files, state_path

__all__ = ["Loaded", "LockTimeout", "apply", "descriptor_label", "fleet_of", "load_services", "locked", "plan", "Report"]


@dataclass
class Report:
    changes: list[tuple[Path, p.FileChange]] = field(default_factory=list)  # (output folder, change)
    backups: list[Path] = field(default_factory=list)
    orphans: list[Path] = field(default_factory=list)
    records: dict[Path, dict[str, Record]] = field(default_factory=dict)  # output folder -> what its services were made from
    stat_cache: StatCache | None = None
    manifests: dict[Path, Manifest] = field(default_factory=dict)  # as plan read them (under the sync's lock)
    renamed: dict[Path, dict[str, str]] = field(default_factory=dict)  # output folder -> {old service name: new}
    changed_meanwhile: list[Path] = field(default_factory=list)  # saved by someone while the sync ran: left alone

    def count(self, action: str) -> int:
        return sum(1 for _, ch in self.changes if ch.action == action)

    @property
    def drifted(self) -> list[tuple[Path, p.FileChange]]:
        """What a sync would change or could not settle: everything but unchanged and kept files."""
        return [(o, ch) for o, ch in self.changes if ch.action not in p.IN_SYNC]

    def as_json(self, check: bool) -> dict:
        """For portals and bots: paths by what happened (with --check: by what would happen)."""
        keys = {p.CREATE: "created", p.UPDATE: "updated", p.UNCHANGED: "unchanged", p.KEPT: "kept", p.MERGED: "merged",
                p.DELETE: "deleted", p.CONFLICT: "conflicts", p.ORPHANED: "orphaned_files"}
        result: dict = {"check": check, **{key: [] for key in keys.values()}}
        for out_dir, change in self.changes:
            result[keys[change.action]].append(str(out_dir / change.path))
        result["orphaned_regions"] = sorted(str(o) for o in self.orphans) if not check else sorted(
            f"{out_dir / ch.path}#{name}" for out_dir, ch in self.changes for name in ch.orphans)
        result["backups"] = sorted(str(b) for b in self.backups)
        result["changed_meanwhile"] = sorted(str(f) for f in self.changed_meanwhile)
        result["renamed_services"] = {old: new for names in self.renamed.values() for old, new in sorted(names.items())}
        return result


# --- plan ------------------------------------------------------------------------------------------------

def plan(loaded: list[Loaded], merge: bool = False, rendered_one: Callable[[str], None] | None = None) -> Report:
    """What sync would do. Every service renders with the fleet of all of `loaded`, so runbooks
    show who depends on whom across output folders. A service whose record in the manifest shows
    the same inputs and neighbourhood, and whose files are all as opgen wrote them, is unchanged
    without rendering it. `rendered_one(name)` is called after each service, for a progress bar."""
    report = Report()
    fleet = fleet_of(loaded)
    graph = graph_key(loaded)
    by_out: dict[Path, list[Loaded]] = {}
    for item in loaded:
        by_out.setdefault(item.out_dir, []).append(item)
    fleet_dir = loaded[0].fleet_dir if loaded else None
    if fleet_dir is not None:
        by_out.setdefault(fleet_dir, [])
    stats = report.stat_cache = StatCache(state_path(fleet_dir or loaded[0].out_dir, c.STAT_CACHE_PATH))
    names = {i.name for i in loaded}
    folders = []  # (output folder, manifest, services as recorded: their unchanged files, records)
    to_render: list[tuple[Loaded, Neighbourhood]] = []
    stale_fleet_files: list[Path] = []  # output folders, other than this sync's fleet folder, that hold fleet files
    for out_dir, items in sorted(by_out.items(), key=lambda pair: pair[0].parts):
        manifest = read_manifest(out_dir)
        report.manifests[out_dir] = manifest
        report.renamed[out_dir] = renamed_services(manifest, items, names)
        root = items[0].out_real if items else out_dir.resolve().as_posix()
        owned: dict[str, list[str]] = {}
        for path, entry in manifest.files.items():
            owned.setdefault(entry.service, []).append(path)
        unchanged, records = [], {}
        for i in items:
            if i.record is not None and i.record.fleet == graph:
                neighbourhood, records[i.name] = None, i.record  # same inputs, same graph: as recorded
            else:
                neighbourhood = fleet.neighbourhood(i.name)
                records[i.name] = record_of(i, neighbourhood_key(neighbourhood), graph)
            if _as_recorded(manifest, records[i.name], i.name, owned, stats, root):
                unchanged += [p.FileChange(path, p.UNCHANGED, i.name) for path in owned[i.name]]
                if rendered_one:
                    rendered_one(i.name)
            else:
                to_render.append((i, neighbourhood or fleet.neighbourhood(i.name)))
        if out_dir == fleet_dir:
            journeys = loaded[0].journeys if loaded else None
            records[c.FLEET_OWNER] = (Record("", fleet_artifacts_key(loaded), "", warnings=journeys.recorded_warnings(),
                                             journeys=journeys.key) if journeys else Record("", fleet_artifacts_key(loaded), ""))
            if _as_recorded(manifest, records[c.FLEET_OWNER], c.FLEET_OWNER, owned, stats, root):
                unchanged += [p.FileChange(path, p.UNCHANGED, c.FLEET_OWNER) for path in owned[c.FLEET_OWNER]]
            else:
                to_render.append((None, None))
        elif owned.get(c.FLEET_OWNER):
            stale_fleet_files.append(out_dir)  # left by a sync of fewer services, whose fleet folder this was
        folders.append((out_dir, manifest, unchanged, records))
    rendered: dict[Path, dict[str, list]] = {}
    services = [job for job in to_render if job[0] is not None]
    for (item, _), artifacts in zip(services, parallel.render_all(services)):
        rendered.setdefault(item.out_dir, {})[item.name] = artifacts
        if rendered_one:
            rendered_one(item.name)
    if len(services) < len(to_render):
        rendered.setdefault(fleet_dir, {})[c.FLEET_OWNER] = fleet_artifacts(loaded, fleet)
    for out_dir in stale_fleet_files:  # this sync's fleet files are in its fleet folder: these go, as any file no longer generated
        rendered.setdefault(out_dir, {})[c.FLEET_OWNER] = []
    as_recorded = RenderedAsRecorded(loaded, fleet, report.manifests)
    for out_dir, manifest, unchanged, records in folders:
        renamed = report.renamed[out_dir]
        bases = Bases(out_dir, manifest, GitObjects(out_dir), lambda name, folder=out_dir: as_recorded(folder, name))
        services_here = {**rendered.get(out_dir, {}), **{old: [] for old in renamed}}
        changes = unchanged + p.plan_output(out_dir, services_here, manifest, merge, bases, renamed)
        report.changes += [(out_dir, change) for change in sorted(changes, key=lambda ch: ch.path)]
        report.records[out_dir] = records
    return report


def renamed_services(manifest: Manifest, items: list[Loaded], names: set[str]) -> dict[str, str]:
    """{old name: new name} for each service recorded here whose descriptor now names it otherwise:
    its old kit is taken away as the new one is written (never two kits for one descriptor)."""
    by_label = {i.label: i.name for i in items}
    return {old: by_label[record.descriptor] for old, record in sorted(manifest.services.items())
            if old != c.FLEET_OWNER and old not in names and by_label.get(record.descriptor, old) != old}


class RenderedAsRecorded:
    """A service's files as opgen last wrote them, rendered again from what its record says they
    were made from: its descriptor then (the file as it is, when it hashes as recorded; else the
    text the record keeps), its neighbourhood then (rebuilt from the facts every
    manifest of the sync recorded), this opgen. None when any of that cannot be had or does not
    hash as recorded. The base of a three-way merge when the repository lacks it (sync/base.py)."""

    def __init__(self, loaded: list[Loaded], fleet: Fleet, manifests: dict[Path, Manifest]) -> None:
        self.by_name = {i.name: i for i in loaded}
        self.fleet, self.manifests = fleet, manifests
        self._old_fleet: Fleet | None = None

    def __call__(self, out_dir: Path, name: str) -> dict[str, str] | None:
        record = self.manifests[out_dir].services.get(name)
        if record is None or name == c.FLEET_OWNER:
            return None
        item = self.by_name.get(name) or next((i for i in self.by_name.values() if i.label == record.descriptor), None)
        if item is None:
            return None
        try:
            service = self._service(item, record)
            neighbourhood = self._neighbourhood(name, record)
            if service is None or neighbourhood is None:
                return None
            artifacts = render_all(RenderContext(service, item.label, neighbourhood, item.rules_format))
        except (DescriptorError, FileError, ValueError, KeyError, TypeError):
            return None
        return {a.path: a.text for a in artifacts}

    @staticmethod
    def _service(item: Loaded, record: Record):
        blueprints = parallel.run_blueprints()
        if item.inputs == record.inputs:
            return item.with_service(blueprints).service
        if not record.source:
            return None
        raw = record.source.encode("utf-8")
        service = load_validated(item.descriptor, item.shown, item.blueprint_dirs, blueprints, raw).service
        folders = blueprints.folders(item.descriptor.parent, item.blueprint_dirs)
        key = inputs_key(raw, item.label, item.rules_format, service.blueprint, blueprints.file_bytes(folders, service.blueprint))
        return service if key == record.inputs else None

    def _neighbourhood(self, name: str, record: Record) -> Neighbourhood | None:
        if name in self.fleet.services and neighbourhood_key(self.fleet.neighbourhood(name)) == record.neighbourhood:
            return self.fleet.neighbourhood(name)
        if self._old_fleet is None:
            facts, where = [], {}
            for out_dir, manifest in self.manifests.items():
                for recorded_name, recorded in manifest.services.items():
                    if recorded_name != c.FLEET_OWNER and recorded.facts:
                        facts.append(ServiceFacts.from_json(recorded.facts))
                        known = self.by_name.get(recorded_name)
                        where[recorded_name] = known.out_real if known else out_dir.resolve().as_posix()
            self._old_fleet = build_fleet(facts, where)
        if name not in self._old_fleet.services:
            return None
        old = self._old_fleet.neighbourhood(name)
        return old if neighbourhood_key(old) == record.neighbourhood else None


def graph_key(loaded: list[Loaded]) -> str:
    """What every neighbourhood in the sync is made from: the facts of each service, and where its
    files go relative to the others (not where the repository is: a clone elsewhere has the same key)."""
    root = os.path.commonpath([i.out_real for i in loaded]) if loaded else "/"
    where = {i.name: i.out_real[len(root):] if i.out_real.startswith(root) else os.path.relpath(i.out_real, root) for i in loaded}
    return fleet_key([[i.facts.to_json(), where[i.name]] for i in sorted(loaded, key=lambda i: i.name)])


def _as_recorded(manifest: Manifest, record: Record, owner: str, owned: dict[str, list[str]], stats: StatCache, root: str) -> bool:
    """Whether `owner`'s files need no rendering: made from the same inputs as recorded, and each
    one still as opgen wrote it (no sync killed halfway, nothing edited, nothing missing). A
    service with a file in conflict has no record (apply drops it), so it is rendered again and
    the conflict is reported until it is resolved. `root` is the output folder, resolved."""
    recorded = manifest.services.get(owner)
    # The graph key only spares computing the neighbourhood: a new graph may leave it as it was.
    if manifest.pending or recorded is None or not owned.get(owner) or (
            recorded is not record and replace(recorded, fleet=record.fleet) != record):
        return False
    return all(stats.matches(f"{root}/{path}", manifest.files[path].sha256) for path in owned[owner])


def fleet_artifacts_key(loaded: list[Loaded]) -> str:
    """What the fleet files are made from: every service's facts, and the inputs of those whose
    rules they carry (mimir)."""
    fleet_dir = loaded[0].fleet_dir
    parts = [[i.facts.to_json() for i in sorted(loaded, key=lambda i: i.name)],
             [[i.name, i.inputs, descriptor_label(i.descriptor, fleet_dir)] for i in loaded if i.rules_format == "mimir"]]
    journeys = loaded[0].journeys
    if journeys:  # a journey's files read its own text and its steps' SLOs
        steps = {s.service for j in journeys.documents for s in j.steps}
        parts.append([[j.name, j.source, journeys.runbook_base_url, journeys.rules_format(j.name)] for j in journeys.documents])
        if any(journeys.rules_format(j.name) == "mimir" for j in journeys.documents):
            parts.append(_tenant_per_team(loaded))  # a journey's groups read other tenants
        parts.append(sorted([i.name, i.inputs] for i in loaded if i.name in steps))
    return fleet_key(parts)


def _tenant_per_team(loaded: list[Loaded]) -> bool:
    """Whether the settings say a Mimir tenant per team (`ruler: {tenant: team}`)."""
    from opgen.descriptor.blueprints import ruler_setting

    ruler = ruler_setting(loaded[0].fleet_dir, parallel.run_blueprints().settings)
    return (ruler or {}).get("tenant") == "team"


def fleet_artifacts(loaded: list[Loaded], fleet: Fleet) -> list:
    """The files of the whole sync: the Alertmanager config, and the ruler namespaces of the
    services whose rules format is mimir."""
    from opgen.render import alertmanager_routes, rule_formats

    count = len(loaded)
    header = (f"# Generated by opgen from the {count} service descriptor{'s' if count != 1 else ''} synced with this folder. "
              "Do not edit by hand:\n# change the descriptors and run `opgen sync` on the folder that holds them all.\n")
    fleet_dir = loaded[0].fleet_dir
    journeys = loaded[0].journeys.resolved() if loaded[0].journeys else ()
    artifacts = [alertmanager_routes.render(fleet, header, journeys)]
    ruled = [RenderContext(i.with_service(parallel.run_blueprints()).service, descriptor_label(i.descriptor, fleet_dir), fleet.neighbourhood(i.name), i.rules_format)
             for i in loaded if i.rules_format == "mimir"]
    in_mimir = tuple(j for j in journeys if loaded[0].journeys.rules_format(j.journey.name) == "mimir")
    artifacts += rule_formats.ruler_namespaces(ruled, header, in_mimir, tenant_per_team=in_mimir != () and _tenant_per_team(loaded))
    if journeys:
        from opgen.render import journeys as journey_files

        artifacts += journey_files.render_all(journeys, header)
    return sorted(artifacts, key=lambda a: a.path)


def output_folders(loaded: list[Loaded]) -> list[Path]:
    return sorted({item.out_dir for item in loaded} | ({loaded[0].fleet_dir} if loaded and loaded[0].fleet_dir else set()))


# --- apply ------------------------------------------------------------------------------------------------

STATE_GITIGNORE_TEXT = ("# opgen: the lock and the stat cache are per machine; the manifest and orphans/ belong in version control\n"
                        "lock\nstat-cache.json\n")
LEFT = (p.CONFLICT, p.ORPHANED)  # what a sync without --force leaves for a person


def apply(report: Report, force: bool = False) -> None:
    """Write the plan. In each folder: the write-ahead journal, then every file staged; one flush;
    each staged file renamed over its target if the target is still as the plan read it (a file
    saved meanwhile is left, and reported); deletes; then the manifests, which record what
    actually happened, flushed and renamed last. A sync killed on the way leaves every file old or
    new, and the next sync finishes the job. A folder where nothing changed is not written to."""
    by_out: dict[Path, list[p.FileChange]] = {}
    for out_dir, change in report.changes:
        by_out.setdefault(out_dir, []).append(change)
    batch = Batch(new_token())
    folders = [_FolderWrite(out_dir, changes, report, force, batch) for out_dir, changes in by_out.items()]
    for folder in folders:  # every read and check first: a problem writes nothing
        folder.planned = folder.operations()
    folders = [folder for folder in folders if folder.has_work()]
    committing = False
    try:
        for folder in folders:
            folder.stage(folder.planned)
        committing = True
        batch.commit(stage_last=lambda changed: [f.stage_manifest(set(changed)) for f in folders])
    except BaseException:
        batch.abort()
        if not committing:  # nothing was renamed: the journals go too
            for folder in folders:
                pending_file(folder.out_dir).unlink(missing_ok=True)
        raise
    for folder in folders:
        folder.finish()
    if report.stat_cache is not None:
        left = {str(path.resolve()) for path in report.changed_meanwhile}
        for folder in folders:
            for path, digest in folder.written:
                if path not in left:
                    report.stat_cache.record(path, digest)
        report.stat_cache.save()  # last: each file it describes was changed before it


class _FolderWrite:
    """What apply does in one output folder."""

    def __init__(self, out_dir: Path, changes: list[p.FileChange], report: Report, force: bool, batch: Batch) -> None:
        self.out_dir, self.changes, self.report, self.force, self.batch = out_dir, changes, report, force, batch
        self.manifest = report.manifests.get(out_dir) or read_manifest(out_dir)
        self.before = dict(self.manifest.files)  # the entries as planned from
        self.records_before = dict(self.manifest.services)
        self.json_before = self.manifest.to_json()
        self.planned: list = []
        self.records = report.records.get(out_dir, {})
        self.renamed = report.renamed.get(out_dir, {})
        self.root = out_dir.resolve().as_posix()
        self.targets: dict[Path, p.FileChange] = {}  # each file staged or removed for a change
        self.written: list[tuple[str, str]] = []  # (file, content hash): recorded in the stat cache once renamed
        self.old_base_copies: list[Path] = []

    def has_work(self) -> bool:
        """Whether anything is to be written here: a file, a backup, the manifest (an entry, a
        record, a newer format), the state's .gitignore, or the leftovers of a killed sync."""
        ignore = state_path(self.out_dir, c.STATE_GITIGNORE)
        return bool(self.planned or self.manifest.pending or self.renamed or _reads(ignore) != STATE_GITIGNORE_TEXT
                    or self._settled(set()).to_json() != self.json_before)

    def stage(self, operations: list) -> None:
        self._sweep_killed_sync()
        journal = Journal(self.batch.token, {ch.path: content_hash(ch.generated, ch.path) for ch in self.changes
                                             if ch.generated is not None},
                          [self._relative(target) for _, target, _, _ in operations]
                          + [c.MANIFEST_PATH, c.STATE_GITIGNORE])
        atomic_write(pending_file(self.out_dir), journal.to_json(), durable=not self.batch.durable)
        for change, target, text, expect in operations:
            if text is None:
                self.batch.remove(target, expect)
            else:
                self.batch.stage(target, text, expect)
        ignore = state_path(self.out_dir, c.STATE_GITIGNORE)
        if _reads(ignore) != STATE_GITIGNORE_TEXT:
            self.batch.stage(ignore, STATE_GITIGNORE_TEXT)

    def operations(self) -> list[tuple[p.FileChange | None, Path, str | None, object]]:
        """(change, path, text to write or None to delete, what the path must still be)."""
        operations = []
        for change in sorted(self.changes, key=lambda ch: ch.action in (p.DELETE, p.ORPHANED)):  # deletes last
            target = confined(self.out_dir, change.path)
            for region, content in sorted(change.orphans.items()):
                saved = orphans_file(self.out_dir, change.path, region)
                previous = read_text(saved)
                operations.append((None, saved, (previous[0] if previous else "") + content, previous[1] if previous else None))
                self.report.orphans.append(saved)
            forced = self.force and change.action in (p.CONFLICT, p.KEPT, p.ORPHANED)
            if forced:
                backup = free_backup_name(target)
                operations.append((None, backup, change.old_text or "", None))
                self.report.backups.append(backup)
            expect = change.read_as if change.old_text is not None else None
            if change.action in p.WRITES or (forced and change.action != p.ORPHANED) or change.merged_text:
                text = change.merged_text if change.merged_text and not self.force else change.new_text
                operations.append((change, target, text, expect))
                self.targets[target] = change
                self.written.append((f"{self.root}/{change.path}", content_hash(text, change.path)))
                self._record(change)
            elif change.action == p.DELETE or (forced and change.action == p.ORPHANED):
                operations.append((change, target, None, expect))
                self.targets[target] = change
                self.manifest.files.pop(change.path, None)
            elif change.action in (p.UNCHANGED, p.KEPT) and change.generated is not None:
                self._record(change)
        left = {ch.path for ch in self.changes if ch.action in LEFT and not self.force}
        for copy in self._old_base_store():
            if copy.relative_to(state_path(self.out_dir, c.OLD_BASE_DIR)).as_posix() not in left:
                operations.append((None, copy, None, "any"))
                self.old_base_copies.append(copy)
        return operations

    def _record(self, change: p.FileChange) -> None:
        """The entry of what opgen wrote (or would write) to the file. An entry that already says so
        stays as it is: its blob is the text as first written, notes of the time included, which is
        what the repository holds (an edit of the notes alone changes no entry)."""
        digest = content_hash(change.generated, change.path)
        entry = self.manifest.files.get(change.path)
        if entry is None or entry.sha256 != digest or entry.service != change.service or not entry.blob:
            self.manifest.files[change.path] = Entry(change.service, digest, blob_id(change.generated))

    def _old_base_store(self) -> list[Path]:
        """The copies an opgen before manifest version 3 kept in .opgen/base/, of the files it
        records: removed by the first sync that writes the folder (but for files left in conflict,
        whose merge may still need them)."""
        folder = state_path(self.out_dir, c.OLD_BASE_DIR)
        try:
            if not stat_module.S_ISDIR(os.lstat(folder).st_mode):
                return []
        except OSError:
            return []
        copies = []
        for path in sorted(self.before):
            try:
                copy = state_path(self.out_dir, f"{c.OLD_BASE_DIR}/{path}")
                if stat_module.S_ISREG(os.lstat(copy).st_mode):
                    copies.append(copy)
            except (OSError, SyncError):
                continue
        return copies

    def _sweep_killed_sync(self) -> None:
        """The temporary files a killed sync left here, by the token and targets its journal lists."""
        journal = read_pending(self.out_dir)
        if not journal.token:
            return
        targets = []
        for relative in journal.targets:
            try:
                targets.append(state_path(self.out_dir, relative) if relative.startswith(c.STATE_DIR + "/")
                               else confined(self.out_dir, relative))
            except FileError:
                continue
        remove_temp_files(targets, journal.token)

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.out_dir).as_posix()

    def stage_manifest(self, changed_meanwhile: set[Path]) -> None:
        """After the renames: the manifest says what happened."""
        self.report.changed_meanwhile += [target for target in self.targets if target in changed_meanwhile]
        self.batch.stage(manifest_file(self.out_dir), self._settled(changed_meanwhile).to_json())

    def _settled(self, changed_meanwhile: set[Path]) -> Manifest:
        """The manifest once the files are written. A file a person saved while the sync ran keeps
        its old entry (it is a hand edit now). Its service keeps its old record, like a service with
        a file left in conflict: the record no longer matches, so the next sync renders the service
        and reports the file again (and can render its base from the record). A renamed service's
        record goes with its last file: till then, the next sync sees the rename."""
        files, services = dict(self.manifest.files), dict(self.records_before)
        incomplete = {ch.service for ch in self.changes if ch.action in LEFT and not self.force}
        for target, change in self.targets.items():
            if target in changed_meanwhile:
                if change.path in self.before:
                    files[change.path] = self.before[change.path]
                else:
                    files.pop(change.path, None)
                incomplete.add(change.service)
        services.update({name: record for name, record in self.records.items() if name not in incomplete})
        owners = {entry.service for entry in files.values()}
        for old in self.renamed:
            if old not in owners:
                services.pop(old, None)
        return Manifest(files, {}, services)

    def finish(self) -> None:
        """The journal goes once the manifest is in place; emptied folders of the old base store go too."""
        pending_file(self.out_dir).unlink(missing_ok=True)
        base = state_path(self.out_dir, c.OLD_BASE_DIR)
        for copy in self.old_base_copies:
            folder = copy.parent
            while folder != base.parent and folder.is_relative_to(base):
                try:
                    folder.rmdir()
                except OSError:
                    break
                folder = folder.parent


def _reads(path: Path) -> str | None:
    try:
        found = read_text(path)
    except FileError:
        return None
    return found[0] if found else None


def unified_diff(change: p.FileChange, shown_path: str) -> str:
    return "".join(difflib.unified_diff(
        (change.old_text or "").splitlines(keepends=True),
        (change.new_text or "").splitlines(keepends=True),
        fromfile=f"{shown_path} (on disk)", tofile=f"{shown_path} (from the descriptor)",
    ))
