"""The sync pipeline: descriptors -> services -> artifacts -> plan -> (unless checking) write."""

from __future__ import annotations

import difflib
import os
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from opgen import conventions as c
from opgen.descriptor.blueprints import Blueprints, builtin_blueprint_dir
from opgen.descriptor.load import load_validated
from opgen.descriptor.model import Service
from opgen.errors import DescriptorError, Position, Problem
from opgen.fleet import Fleet, Neighbourhood, ServiceFacts, build_fleet, facts_of
from opgen.paths import display_path
from opgen.render import RenderContext, render_all
from opgen.sync import parallel
from opgen.sync import plan as p
from opgen.sync import regions
from opgen.sync.discover import find_descriptors
from opgen.sync.inputs import fleet_key, inputs_key, neighbourhood_key
from opgen.sync.manifest import (
    Entry,
    Manifest,
    Record,
    base_file,
    content_hash,
    manifest_file,
    orphans_file,
    pending_file,
    pending_json,
    read_base,
    read_manifest,
)
from opgen.sync.stat_cache import StatCache
from opgen.sync.write import Batch, atomic_write, confined, remove_leftover_temp_files


@dataclass(frozen=True)
class Loaded:
    """One descriptor of a sync. `service` is None when the manifest's record showed that the
    descriptor is as last synced (same inputs): the facts come from the record, and the service
    is parsed only if it must be rendered after all (`with_service`)."""

    descriptor: Path
    service: Service | None
    out_dir: Path
    facts: ServiceFacts
    inputs: str  # inputs.inputs_key
    label: str  # the descriptor as its output folder sees it (descriptor_label)
    out_real: str  # out_dir resolved, with forward slashes
    warnings: tuple[Problem, ...] = ()
    name_position: Position | None = None
    rules_format: str = c.DEFAULT_RULES_FORMAT
    fleet_dir: Path | None = None  # where the fleet's own files go (the same for every service of a sync)
    blueprint_dirs: tuple[Path, ...] = ()  # --blueprints, to parse it again
    blueprint: str | None = None  # spec.blueprint
    record: Record | None = None  # the manifest's record it was known from (service is None)
    graph_warnings: tuple[Problem, ...] = ()  # about its edges in this sync's fleet (unknown targets, cycles)

    @property
    def name(self) -> str:
        return self.facts.name

    def with_service(self, blueprints: Blueprints | None = None) -> Loaded:
        """With its service, parsed now if it came from its record; `blueprints` is the run's, so a
        graph change that re-renders many recorded services reads each blueprint once."""
        if self.service is not None:
            return self
        shown = self.name_position.file if self.name_position else display_path(self.descriptor)
        result = load_validated(self.descriptor, shown, self.blueprint_dirs, blueprints, out_dir=self.out_dir)
        return replace(self, service=result.service)


@dataclass
class Report:
    changes: list[tuple[Path, p.FileChange]] = field(default_factory=list)  # (output folder, change)
    backups: list[Path] = field(default_factory=list)
    orphans: list[Path] = field(default_factory=list)
    records: dict[Path, dict[str, Record]] = field(default_factory=dict)  # output folder -> what its services were made from
    stat_cache: StatCache | None = None
    manifests: dict[Path, Manifest] = field(default_factory=dict)  # as plan read them (under the sync's lock)

    def count(self, action: str) -> int:
        return sum(1 for _, ch in self.changes if ch.action == action)

    @property
    def drifted(self) -> list[tuple[Path, p.FileChange]]:
        return [(o, ch) for o, ch in self.changes if ch.action != p.UNCHANGED]

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
        return result


def load_services(paths: list[Path], out: Path | None = None, blueprint_dirs: tuple[Path, ...] = (),
                  rules_format: str | None = None, reuse: bool = True) -> list[Loaded]:
    """Every descriptor named by `paths`, validated; one DescriptorError with all problems of all files.
    `blueprint_dirs` are the `--blueprints` folders; each descriptor also sees its settings files' folders.
    `rules_format` (`--format`) overrides the `rules_format` of the settings files. With `reuse`, a
    descriptor whose inputs hash as its manifest record says is not parsed (it was valid then)."""
    descriptors = find_descriptors(paths)
    problems: list[Problem] = []
    if not descriptors:
        names = ", ".join(str(x) for x in paths)
        raise DescriptorError([Problem(Position(names), "no descriptor found (looked for service.yaml and *.opgen.yaml)")])
    blueprints = Blueprints()
    records: dict[Path, dict[str, Record]] = {}  # output folder -> records by descriptor label
    out_real = out.resolve() if out is not None else None
    real_folder = _RealFolders()
    to_parse: list[tuple] = []  # (index in loaded, descriptor, shown, raw, label, settings, blueprint folders, out_dir, out_real)
    loaded: list[Loaded | None] = []
    for descriptor in descriptors:
        out_dir = out if out is not None else descriptor.parent / c.OPS_DIR
        folder_real = real_folder(descriptor.parent)
        real = descriptor.resolve() if os.path.islink(descriptor) else folder_real / descriptor.name
        shown = display_path(descriptor, real)
        if out is None:
            out_real = out_dir.resolve() if os.path.islink(out_dir) else folder_real / c.OPS_DIR
            if not out_real.is_relative_to(folder_real):
                problems.append(Problem(Position(display_path(out_dir), 0, 0),
                                        f"leads outside the descriptor's folder (to {out_real}); "
                                        "opgen writes only below it (use --out to choose another folder)"))
                continue
        try:
            chosen = rules_format or blueprints.rules_format(descriptor.parent) or c.DEFAULT_RULES_FORMAT
            settings = (chosen, blueprints.runbook_base_url(descriptor.parent, out_dir))  # what the settings decide
            folders = blueprints.folders(descriptor.parent, blueprint_dirs)
            raw = descriptor.read_bytes()
        except DescriptorError as exc:
            problems += exc.problems
            continue
        except OSError as exc:
            problems.append(Problem(Position(shown), f"cannot read: {exc.strerror or exc}"))
            continue
        label = Path(os.path.relpath(real, out_real.parent)).as_posix()
        if reuse and out_dir not in records:
            records[out_dir] = {r.descriptor: r for r in read_manifest(out_dir).services.values()}
        record = records.get(out_dir, {}).get(label)
        item = record and _from_record(record, descriptor, shown, out_dir, out_real.as_posix(), raw, label, settings,
                                       blueprints, folders, blueprint_dirs)
        if item is None:  # parsed below, with the others, on every core
            to_parse.append((len(loaded), descriptor, shown, raw, label, settings, folders, out_dir, out_real))
        loaded.append(item)
    jobs = [(descriptor, shown, blueprint_dirs, raw, out_dir) for _, descriptor, shown, raw, _, _, _, out_dir, _ in to_parse]
    for (index, descriptor, shown, raw, label, settings, folders, out_dir, out_real), result in zip(
            to_parse, parallel.parse_all(jobs, blueprints)):
        if isinstance(result, DescriptorError):
            problems += result.problems
            continue
        key = inputs_key(raw, label, settings[0], result.service.blueprint,
                         blueprints.file_bytes(folders, result.service.blueprint), settings[1])
        loaded[index] = Loaded(descriptor, result.service, out_dir, facts_of(result.service), key, label, out_real.as_posix(),
                               result.warnings, result.name_position, settings[0], blueprint=result.service.blueprint,
                               blueprint_dirs=blueprint_dirs)
    loaded = [item for item in loaded if item is not None]
    seen: dict[str, Loaded] = {}
    for item in loaded:  # one fleet, one graph: a name must say which service, whatever folder it is in
        key = item.name
        if key in seen:
            first = seen[key].name_position
            problems.append(Problem(item.name_position,
                                    f"service {item.name!r} is also described at {first}; one descriptor per service"))
        seen.setdefault(key, item)
    fleet_dir = fleet_folder(paths, out)
    # One folder, one spelling: the fleet folder is often a service's own ops/ (one descriptor, or --out).
    fleet_real = fleet_dir.resolve().as_posix()
    fleet_dir = next((i.out_dir for i in loaded if i.out_real == fleet_real), fleet_dir)
    if out is None and not fleet_dir.resolve().is_relative_to(fleet_dir.parent.resolve()):
        problems.append(Problem(Position(display_path(fleet_dir), 0, 0),
                                f"leads outside its folder (to {fleet_dir.resolve()}); opgen writes the fleet's files only below it"))
    if problems:
        raise DescriptorError(sorted(set(problems)))  # a bad settings file or --blueprints folder is one problem, not one per descriptor
    return with_graph_warnings(loaded, fleet_dir)


class _RealFolders:
    """Path.resolve() for the folders of a fleet, sharing each parent's: one lstat per folder."""

    def __init__(self) -> None:
        self.known: dict[Path, Path] = {}

    def __call__(self, folder: Path) -> Path:
        if folder not in self.known:
            simple = folder.name not in ("", ".", "..") and folder.parent != folder and not os.path.islink(folder)
            self.known[folder] = self(folder.parent) / folder.name if simple else folder.resolve()
        return self.known[folder]


def _from_record(record: Record, descriptor: Path, shown: str, out_dir: Path, out_real: str, raw: bytes, label: str,
                 settings: tuple[str, str | None], blueprints: Blueprints, folders: tuple[Path, ...],
                 blueprint_dirs: tuple[Path, ...]) -> Loaded | None:
    """The descriptor as its record knows it, when its inputs are what they were; else None.
    `settings`: the rules format and the runbook base URL its settings files give it."""
    rules_format = settings[0]
    key = inputs_key(raw, label, rules_format, record.blueprint, blueprints.file_bytes(folders, record.blueprint), settings[1])
    if key != record.inputs:
        return None
    try:
        facts = ServiceFacts.from_json(record.facts)
    except (KeyError, TypeError, ValueError):
        return None

    def where(file: str) -> str:
        if not file:
            return shown
        folder = builtin_blueprint_dir().resolve() if file.startswith(BUILTIN) else descriptor.parent.resolve()
        path = Path(os.path.normpath(os.path.join(folder, file.removeprefix(BUILTIN))))
        return display_path(path, path)

    warnings = tuple(Problem(Position(where(f), line, col), message) for f, line, col, message in record.warnings)
    return Loaded(descriptor, None, out_dir, facts, key, label, out_real, warnings, Position(shown, *record.name_line),
                  rules_format, blueprint_dirs=blueprint_dirs, blueprint=record.blueprint, record=record)


BUILTIN = "opgen:"  # a file of opgen's own blueprints, in a record: wherever opgen is installed


def _recorded_file(path: Path, descriptor_folder: Path) -> str:
    """Where a warning points, as a record keeps it: the same on every machine."""
    real, builtin = path.resolve(), builtin_blueprint_dir().resolve()
    if real.is_relative_to(builtin):
        return BUILTIN + real.relative_to(builtin).as_posix()
    return Path(os.path.relpath(real, descriptor_folder.resolve())).as_posix()


def _record(item: Loaded, neighbourhood: str, graph: str) -> Record:
    """What `item`'s files are made from, for the manifest."""
    shown = item.name_position.file if item.name_position else display_path(item.descriptor)
    warnings = tuple(("" if w.position.file == shown else _recorded_file(Path(w.position.file), item.descriptor.parent),
                      w.position.line, w.position.column, w.message) for w in item.warnings)
    name_line = (item.name_position.line, item.name_position.column) if item.name_position else (1, 1)
    return Record(item.label, item.inputs, neighbourhood, graph, item.blueprint, item.facts.to_json(), warnings, name_line)


def fleet_folder(paths: list[Path], out: Path | None) -> Path:
    """Where a sync writes its fleet files: `--out`, else ops/ in the folder given (a descriptor
    file: its folder; several paths: the nearest folder holding them all)."""
    if out is not None:
        return out
    folders = [p if p.is_dir() else p.parent for p in paths]
    if len(folders) == 1:
        return folders[0] / c.OPS_DIR
    common = Path(os.path.commonpath([str(f.absolute()) for f in folders]))
    relative = os.path.relpath(common)
    return (Path(relative) if not relative.startswith("..") else common) / c.OPS_DIR


_last_fleet: list = [None, None]  # (what it was built from, the fleet): load and plan ask for the same one


def fleet_of(loaded: list[Loaded]) -> Fleet:
    """The graph of every loaded service, across output folders, with where each one's runbooks go."""
    key = tuple((i.facts, i.out_real) for i in loaded)
    if _last_fleet[0] != key:
        fleet = build_fleet([i.facts for i in loaded], {i.name: i.out_real or i.out_dir.resolve().as_posix() for i in loaded})
        _last_fleet[:] = [key, fleet]
    return _last_fleet[1]


def with_graph_warnings(loaded: list[Loaded], fleet_dir: Path) -> list[Loaded]:
    """Unknown dependency targets and cycles, as warnings on the descriptors they start from; and
    the folder of the sync's fleet files on each."""
    fleet = fleet_of(loaded)
    extra: dict[str, list[Problem]] = {}
    # One descriptor alone is not a fleet: the services it names are simply not in this sync.
    for edge in fleet.unknown_targets if len(loaded) > 1 else ():
        item = next(i for i in loaded if i.name == edge.source)
        names = ", ".join(repr(d) for d in edge.dependencies)
        extra.setdefault(edge.source, []).append(Problem(item.name_position, (
            f"dependency {names} is the service {edge.target!r}, which no descriptor synced with this one describes; "
            "runbooks name it without a link, and its blast radius is not known")))
    for cycle in fleet.cycles():
        item = next(i for i in loaded if i.name == cycle[0])
        extra.setdefault(cycle[0], []).append(Problem(item.name_position, (
            f"dependency cycle: {' -> '.join(cycle)}; each of these services is in the blast radius of the others")))
    from opgen.render.alertmanager_routes import FIX_UNROUTED, unpaged

    by_name = {i.name: i for i in loaded}
    for name, where in unpaged(fleet).items():  # a fleet-wide fact: routes go by team
        extra.setdefault(name, []).append(Problem(by_name[name].name_position, (
            f"the pages of {name!r} go to {where}, where nobody is paged; {FIX_UNROUTED}")))
    return [replace(i, fleet_dir=fleet_dir, graph_warnings=tuple(extra.get(i.name, ()))) for i in loaded]


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
    stats = report.stat_cache = StatCache((fleet_dir or loaded[0].out_dir) / c.STAT_CACHE_PATH)
    folders = []  # (output folder, manifest, services as recorded: their unchanged files, records)
    to_render: list[tuple[Loaded, Neighbourhood]] = []
    stale_fleet_files: list[Path] = []  # output folders, other than this sync's fleet folder, that hold fleet files
    for out_dir, items in sorted(by_out.items(), key=lambda pair: pair[0].parts):
        manifest = read_manifest(out_dir)
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
                records[i.name] = _record(i, neighbourhood_key(neighbourhood), graph)
            if _as_recorded(manifest, records[i.name], i.name, owned, stats, root):
                unchanged += [p.FileChange(path, p.UNCHANGED, i.name) for path in owned[i.name]]
                if rendered_one:
                    rendered_one(i.name)
            else:
                to_render.append((i, neighbourhood or fleet.neighbourhood(i.name)))
        if out_dir == fleet_dir:
            records[c.FLEET_OWNER] = Record("", fleet_artifacts_key(loaded), "")
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
    for out_dir, manifest, unchanged, records in folders:
        changes = unchanged + p.plan_output(out_dir, rendered.get(out_dir, {}), manifest, merge)
        report.changes += [(out_dir, change) for change in sorted(changes, key=lambda ch: ch.path)]
        report.records[out_dir] = records
        report.manifests[out_dir] = manifest
    return report


def graph_key(loaded: list[Loaded]) -> str:
    """What every neighbourhood in the sync is made from: the facts of each service, and where its
    files go relative to the others (not where the repository is: a clone elsewhere has the same key)."""
    root = os.path.commonpath([i.out_real for i in loaded]) if loaded else "/"
    where = {i.name: i.out_real[len(root):] if i.out_real.startswith(root) else os.path.relpath(i.out_real, root) for i in loaded}
    return fleet_key([[i.facts.to_json(), where[i.name]] for i in sorted(loaded, key=lambda i: i.name)])


def _as_recorded(manifest: Manifest, record: Record, owner: str, owned: dict[str, list[str]], stats: StatCache, root: str) -> bool:
    """Whether `owner`'s files need no rendering: made from the same inputs as recorded, and each
    one still as opgen wrote it (no sync killed halfway, nothing edited, nothing missing).
    `root` is the output folder, resolved."""
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
    return fleet_key([[i.facts.to_json() for i in sorted(loaded, key=lambda i: i.name)],
                      [[i.name, i.inputs, descriptor_label(i.descriptor, fleet_dir)] for i in loaded if i.rules_format == "mimir"]])


def fleet_artifacts(loaded: list[Loaded], fleet: Fleet) -> list:
    """The files of the whole sync: the Alertmanager config, and the ruler namespaces of the
    services whose rules format is mimir."""
    from opgen.render import alertmanager_routes, rule_formats

    count = len(loaded)
    header = (f"# Generated by opgen from the {count} service descriptor{'s' if count != 1 else ''} synced with this folder. "
              "Do not edit by hand:\n# change the descriptors and run `opgen sync` on the folder that holds them all.\n")
    fleet_dir = loaded[0].fleet_dir
    artifacts = [alertmanager_routes.render(fleet, header)]
    ruled = [RenderContext(i.with_service(parallel.run_blueprints()).service, descriptor_label(i.descriptor, fleet_dir), fleet.neighbourhood(i.name), i.rules_format)
             for i in loaded if i.rules_format == "mimir"]
    artifacts += rule_formats.ruler_namespaces(ruled, header)
    return sorted(artifacts, key=lambda a: a.path)


def output_folders(loaded: list[Loaded]) -> list[Path]:
    return sorted({item.out_dir for item in loaded} | ({loaded[0].fleet_dir} if loaded and loaded[0].fleet_dir else set()))


@contextmanager
def locked(out_dirs: list[Path], timeout: float):
    """One sync at a time per output folder: a second one waits for the lock, then gives up."""
    locks = []
    try:
        for out_dir in sorted(out_dirs):  # always in the same order, so two syncs cannot deadlock
            path = out_dir / c.LOCK_PATH
            path.parent.mkdir(parents=True, exist_ok=True)
            locks.append(_FolderLock(path, timeout))
        yield
    finally:
        for lock in reversed(locks):
            lock.release()


class _FolderLock:
    """An OS lock on the file `path` (flock, taken in a few microseconds: a fleet takes a thousand);
    filelock where there is no fcntl. LockTimeout after `timeout` seconds."""

    def __init__(self, path: Path, timeout: float) -> None:
        import time

        try:
            import fcntl
        except ImportError:  # Windows
            from filelock import FileLock, Timeout

            self._filelock = FileLock(str(path))
            try:
                self._filelock.acquire(timeout=timeout)
            except Timeout:
                raise LockTimeout(self._message(path, timeout)) from None
            return
        self._filelock = None
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self._fd)
                    raise LockTimeout(self._message(path, timeout)) from None
                time.sleep(0.05)

    @staticmethod
    def _message(path: Path, timeout: float) -> str:
        return (f"another opgen sync has held {path} for {timeout:g}s; "
                "wait for it to finish (or remove the lock file if no sync runs)")

    def release(self) -> None:
        if self._filelock is not None:
            self._filelock.release()
        else:
            os.close(self._fd)  # closing the file drops its flock


class LockTimeout(Exception):
    pass


STATE_GITIGNORE_TEXT = ("# opgen: the lock and the stat cache are per machine; the manifest and base/ belong in version control\n"
                        "lock\nstat-cache.json\n")


def apply(report: Report, force: bool = False) -> None:
    """Write the plan. In each folder: the write-ahead journal, then the files (each atomically,
    its base and any orphaned regions with it), then deletes, the manifest last; all of them
    through one Batch, so the whole sync flushes to disk twice rather than once per file. A sync
    killed on the way leaves every file old or new, and the next sync finishes the job. A folder
    where nothing changed is not written to (but for its stat cache)."""
    by_out: dict[Path, list[p.FileChange]] = {}
    for out_dir, change in report.changes:
        by_out.setdefault(out_dir, []).append(change)
    if report.stat_cache is not None:
        report.stat_cache.remove_leftovers()
    batch = Batch()
    written: list[tuple[str, str]] = []  # (file, content hash): recorded in the stat cache once renamed
    touched: list[Path] = []
    try:
        for out_dir, changes in by_out.items():
            manifest = report.manifests.get(out_dir) or read_manifest(out_dir)
            records = report.records.get(out_dir, {})
            ignore = out_dir / c.STATE_GITIGNORE
            if (all(ch.action == p.UNCHANGED and ch.generated is None for ch in changes) and not manifest.pending
                    and all(manifest.services.get(name) == record for name, record in records.items())
                    and _reads(ignore) == STATE_GITIGNORE_TEXT):
                continue
            touched.append(out_dir)
            root = out_dir.resolve().as_posix()
            remove_leftover_temp_files(out_dir)
            journal = {ch.path: content_hash(ch.generated) for ch in changes if ch.generated is not None}
            atomic_write(pending_file(out_dir), pending_json({**manifest.pending, **journal}), durable=not batch.durable)
            # Deletes last: a renamed page's regions are in their new page before the old page goes.
            for change in sorted(changes, key=lambda ch: ch.action in (p.DELETE, p.ORPHANED)):
                _apply_change(out_dir, change, manifest, force, report, batch, journal.get(change.path),
                              lambda path, digest, root=root: written.append((f"{root}/{path}", digest)))
            if _reads(ignore) != STATE_GITIGNORE_TEXT:
                batch.stage(ignore, STATE_GITIGNORE_TEXT)
            manifest.services.update(records)
            batch.stage(manifest_file(out_dir), manifest.to_json(), last=True)
        batch.commit()
    finally:
        batch.abort()
    for out_dir in touched:
        pending_file(out_dir).unlink(missing_ok=True)
    if report.stat_cache is not None:
        for path, digest in written:
            report.stat_cache.record(path, digest)
        report.stat_cache.save()  # last: each file it describes was changed before it


def _reads(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _apply_change(out_dir: Path, change: p.FileChange, manifest: Manifest, force: bool, report: Report,
                  batch: Batch, generated_hash: str | None, wrote: Callable[[str, str], None]) -> None:
    """`generated_hash` is content_hash(change.generated), computed once for the journal."""
    target = confined(out_dir, change.path)
    for region, content in sorted(change.orphans.items()):
        saved = confined(out_dir, orphans_file(out_dir, change.path, region).relative_to(out_dir).as_posix())
        previous = saved.read_text(encoding="utf-8") if saved.exists() else ""
        batch.stage(saved, previous + content)
        report.orphans.append(saved)
    forced = force and change.action in (p.CONFLICT, p.KEPT, p.ORPHANED)
    if forced:
        backup = target.with_name(target.name + ".orig")
        batch.stage(backup, change.old_text or "")
        report.backups.append(backup)
    if change.action in p.WRITES or (change.action in (p.CONFLICT, p.KEPT) and force) or change.merged_text:
        text = change.merged_text if change.merged_text and not force else change.new_text
        batch.stage(target, text)
        wrote(change.path, generated_hash if text == change.generated else content_hash(text))
        batch.stage(base_file(out_dir, change.path), change.generated)  # after the file: a stale base hides nothing
        manifest.files[change.path] = Entry(change.service, generated_hash)
    elif change.action == p.DELETE or (change.action == p.ORPHANED and force):
        batch.remove(target)
        batch.remove(base_file(out_dir, change.path))
        manifest.files.pop(change.path, None)
    elif change.action == p.UNCHANGED and change.generated is None:
        pass  # known unchanged from the manifest's record: its entry and base are as they were
    elif change.action == p.UNCHANGED:
        wrote(change.path, generated_hash if change.new_text == change.generated else content_hash(change.new_text))
        base = read_base(out_dir, change.path)
        if base is None or regions.blank(base) != regions.blank(change.generated):  # missing, or stale after a kill
            batch.stage(base_file(out_dir, change.path), change.generated)
        manifest.files[change.path] = Entry(change.service, generated_hash)


def descriptor_label(descriptor: Path, out_dir: Path) -> str:
    """The descriptor as seen from the folder that holds ops/: stable wherever opgen runs from."""
    return Path(os.path.relpath(descriptor.resolve(), out_dir.resolve().parent)).as_posix()


def unified_diff(change: p.FileChange, shown_path: str) -> str:
    return "".join(difflib.unified_diff(
        (change.old_text or "").splitlines(keepends=True),
        (change.new_text or "").splitlines(keepends=True),
        fromfile=f"{shown_path} (on disk)", tofile=f"{shown_path} (from the descriptor)",
    ))

