"""The sync pipeline: descriptors -> services -> artifacts -> plan -> (unless checking) write."""

from __future__ import annotations

import difflib
import os
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from opgen import conventions as c
from opgen.descriptor.load import load_validated
from opgen.descriptor.model import Service
from opgen.errors import DescriptorError, Position, Problem
from opgen.fleet import Fleet, build_fleet
from opgen.paths import display_path
from opgen.render import RenderContext, render_all
from opgen.sync import plan as p
from opgen.sync import regions
from opgen.sync.discover import find_descriptors
from opgen.sync.manifest import (
    Entry,
    base_file,
    content_hash,
    manifest_file,
    orphans_file,
    pending_file,
    pending_json,
    read_base,
    read_manifest,
)
from opgen.sync.write import atomic_write, confined, remove_leftover_temp_files


@dataclass(frozen=True)
class Loaded:
    descriptor: Path
    service: Service
    out_dir: Path
    warnings: tuple[Problem, ...] = ()
    name_position: Position | None = None
    rules_format: str = c.DEFAULT_RULES_FORMAT
    fleet_dir: Path | None = None  # where the fleet's own files go (the same for every service of a sync)


@dataclass
class Report:
    changes: list[tuple[Path, p.FileChange]] = field(default_factory=list)  # (output folder, change)
    backups: list[Path] = field(default_factory=list)
    orphans: list[Path] = field(default_factory=list)

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
                  rules_format: str | None = None) -> list[Loaded]:
    """Every descriptor named by `paths`, validated; one DescriptorError with all problems of all files.
    `blueprint_dirs` are the `--blueprints` folders; each descriptor also sees its settings files' folders.
    `rules_format` (`--format`) overrides the `rules_format` of the settings files."""
    from opgen.descriptor.blueprints import rules_format_setting

    descriptors = find_descriptors(paths)
    problems: list[Problem] = []
    if not descriptors:
        names = ", ".join(str(x) for x in paths)
        raise DescriptorError([Problem(Position(names), "no descriptor found (looked for service.yaml and *.opgen.yaml)")])
    loaded: list[Loaded] = []
    for descriptor in descriptors:
        try:
            result = load_validated(descriptor, display_path(descriptor), blueprint_dirs)
        except DescriptorError as exc:
            problems += exc.problems
            continue
        out_dir = out if out is not None else descriptor.parent / c.OPS_DIR
        if out is None and not out_dir.resolve().is_relative_to(descriptor.parent.resolve()):
            problems.append(Problem(Position(display_path(out_dir), 0, 0),
                                    f"leads outside the descriptor's folder (to {out_dir.resolve()}); "
                                    "opgen writes only below it (use --out to choose another folder)"))
            continue
        try:
            chosen = rules_format or rules_format_setting(descriptor.parent) or c.DEFAULT_RULES_FORMAT
        except DescriptorError as exc:
            problems += exc.problems
            continue
        loaded.append(Loaded(descriptor, result.service, out_dir, result.warnings, result.name_position, chosen))
    seen: dict[str, Loaded] = {}
    for item in loaded:  # one fleet, one graph: a name must say which service, whatever folder it is in
        key = item.service.name
        if key in seen:
            first = seen[key].name_position
            problems.append(Problem(item.name_position,
                                    f"service {item.service.name!r} is also described at {first}; one descriptor per service"))
        seen.setdefault(key, item)
    fleet_dir = fleet_folder(paths, out)
    # One folder, one spelling: the fleet folder is often a service's own ops/ (one descriptor, or --out).
    fleet_dir = next((i.out_dir for i in loaded if i.out_dir.resolve() == fleet_dir.resolve()), fleet_dir)
    if out is None and not fleet_dir.resolve().is_relative_to(fleet_dir.parent.resolve()):
        problems.append(Problem(Position(display_path(fleet_dir), 0, 0),
                                f"leads outside its folder (to {fleet_dir.resolve()}); opgen writes the fleet's files only below it"))
    if problems:
        raise DescriptorError(sorted(set(problems)))  # a bad settings file or --blueprints folder is one problem, not one per descriptor
    return with_graph_warnings([replace(i, fleet_dir=fleet_dir) for i in loaded])


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


def fleet_of(loaded: list[Loaded]) -> Fleet:
    """The graph of every loaded service, across output folders, with where each one's runbooks go."""
    return build_fleet([i.service for i in loaded], {i.service.name: i.out_dir.resolve().as_posix() for i in loaded})


def with_graph_warnings(loaded: list[Loaded]) -> list[Loaded]:
    """Unknown dependency targets and cycles, as warnings on the descriptors they start from."""
    fleet = fleet_of(loaded)
    extra: dict[str, list[Problem]] = {}
    # One descriptor alone is not a fleet: the services it names are simply not in this sync.
    for edge in fleet.unknown_targets if len(loaded) > 1 else ():
        item = next(i for i in loaded if i.service.name == edge.source)
        names = ", ".join(repr(d) for d in edge.dependencies)
        extra.setdefault(edge.source, []).append(Problem(item.name_position, (
            f"dependency {names} is the service {edge.target!r}, which no descriptor synced with this one describes; "
            "runbooks name it without a link, and its blast radius is not known")))
    for cycle in fleet.cycles():
        item = next(i for i in loaded if i.service.name == cycle[0])
        extra.setdefault(cycle[0], []).append(Problem(item.name_position, (
            f"dependency cycle: {' -> '.join(cycle)}; each of these services is in the blast radius of the others")))
    return [replace(i, warnings=i.warnings + tuple(extra.get(i.service.name, ()))) for i in loaded]


def plan(loaded: list[Loaded], merge: bool = False, rendered_one: Callable[[str], None] | None = None) -> Report:
    """What sync would do. Every service renders with the fleet of all of `loaded`, so runbooks
    show who depends on whom across output folders. `rendered_one(name)` is called after each
    service, for a progress bar."""
    report = Report()
    fleet = fleet_of(loaded)
    by_out: dict[Path, list[Loaded]] = {}
    for item in loaded:
        by_out.setdefault(item.out_dir, []).append(item)
    fleet_dir = loaded[0].fleet_dir if loaded else None
    if fleet_dir is not None:
        by_out.setdefault(fleet_dir, [])
    for out_dir, items in sorted(by_out.items()):
        rendered = {}
        for i in items:
            context = RenderContext(i.service, descriptor_label(i.descriptor, out_dir), fleet.neighbourhood(i.service.name), i.rules_format)
            rendered[i.service.name] = render_all(context)
            if rendered_one:
                rendered_one(i.service.name)
        if out_dir == fleet_dir:
            rendered[c.FLEET_OWNER] = fleet_artifacts(loaded, fleet)
        for change in p.plan_output(out_dir, rendered, read_manifest(out_dir), merge):
            report.changes.append((out_dir, change))
    return report


def fleet_artifacts(loaded: list[Loaded], fleet: Fleet) -> list:
    """The files of the whole sync: the Alertmanager config, and the ruler namespaces of the
    services whose rules format is mimir."""
    from opgen.render import alertmanager_routes, rule_formats

    count = len(loaded)
    header = (f"# Generated by opgen from the {count} service descriptor{'s' if count != 1 else ''} synced with this folder. "
              "Do not edit by hand:\n# change the descriptors and run `opgen sync` on the folder that holds them all.\n")
    fleet_dir = loaded[0].fleet_dir
    artifacts = [alertmanager_routes.render(fleet, header)]
    ruled = [RenderContext(i.service, descriptor_label(i.descriptor, fleet_dir), fleet.neighbourhood(i.service.name), i.rules_format)
             for i in loaded if i.rules_format == "mimir"]
    artifacts += rule_formats.ruler_namespaces(ruled, header)
    return sorted(artifacts, key=lambda a: a.path)


def output_folders(loaded: list[Loaded]) -> list[Path]:
    return sorted({item.out_dir for item in loaded} | ({loaded[0].fleet_dir} if loaded and loaded[0].fleet_dir else set()))


@contextmanager
def locked(out_dirs: list[Path], timeout: float):
    """One sync at a time per output folder: a second one waits for the lock, then gives up."""
    from filelock import FileLock, Timeout

    locks = []
    try:
        for out_dir in sorted(out_dirs):  # always in the same order, so two syncs cannot deadlock
            path = out_dir / c.LOCK_PATH
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(path))
            try:
                lock.acquire(timeout=timeout)
            except Timeout:
                raise LockTimeout(f"another opgen sync has held {path} for {timeout:g}s; "
                                  "wait for it to finish (or remove the lock file if no sync runs)") from None
            locks.append(lock)
        yield
    finally:
        for lock in reversed(locks):
            lock.release()


class LockTimeout(Exception):
    pass


def apply(report: Report, force: bool = False) -> None:
    """Write the plan: for each folder, files first (each atomically, its base and any orphaned
    regions before it), the manifest last. A sync killed on the way leaves every file old or new,
    and the next sync finishes the job."""
    by_out: dict[Path, list[p.FileChange]] = {}
    for out_dir, change in report.changes:
        by_out.setdefault(out_dir, []).append(change)
    for out_dir, changes in by_out.items():
        remove_leftover_temp_files(out_dir)
        manifest = read_manifest(out_dir)
        journal = {ch.path: content_hash(ch.generated) for ch in changes if ch.generated is not None}
        atomic_write(pending_file(out_dir), pending_json({**manifest.pending, **journal}))
        # Deletes last: a renamed page's regions are in their new page before the old page goes.
        for change in sorted(changes, key=lambda ch: ch.action in (p.DELETE, p.ORPHANED)):
            _apply_change(out_dir, change, manifest, force, report)
        ignore = out_dir / c.STATE_GITIGNORE
        if not ignore.exists():
            atomic_write(ignore, "# opgen: the lock is per machine; the manifest and base/ belong in version control\nlock\n")
        atomic_write(manifest_file(out_dir), manifest.to_json())
        pending_file(out_dir).unlink(missing_ok=True)


def _apply_change(out_dir: Path, change: p.FileChange, manifest, force: bool, report: Report) -> None:
    target = confined(out_dir, change.path)
    for region, content in sorted(change.orphans.items()):
        saved = confined(out_dir, orphans_file(out_dir, change.path, region).relative_to(out_dir).as_posix())
        previous = saved.read_text(encoding="utf-8") if saved.exists() else ""
        atomic_write(saved, previous + content)
        report.orphans.append(saved)
    forced = force and change.action in (p.CONFLICT, p.KEPT, p.ORPHANED)
    if forced:
        backup = target.with_name(target.name + ".orig")
        atomic_write(backup, change.old_text or "")
        report.backups.append(backup)
    if change.action in p.WRITES or (change.action in (p.CONFLICT, p.KEPT) and force) or change.merged_text:
        text = change.merged_text if change.merged_text and not force else change.new_text
        atomic_write(target, text)
        atomic_write(base_file(out_dir, change.path), change.generated)  # after the file: a stale base hides nothing
        manifest.files[change.path] = Entry(change.service, content_hash(change.generated))
    elif change.action == p.DELETE or (change.action == p.ORPHANED and force):
        target.unlink()
        base_file(out_dir, change.path).unlink(missing_ok=True)
        manifest.files.pop(change.path, None)
    elif change.action == p.UNCHANGED:
        base = read_base(out_dir, change.path)
        if base is None or regions.blank(base) != regions.blank(change.generated):  # missing, or stale after a kill
            atomic_write(base_file(out_dir, change.path), change.generated)
        manifest.files[change.path] = Entry(change.service, content_hash(change.generated))


def descriptor_label(descriptor: Path, out_dir: Path) -> str:
    """The descriptor as seen from the folder that holds ops/: stable wherever opgen runs from."""
    return Path(os.path.relpath(descriptor.resolve(), out_dir.resolve().parent)).as_posix()


def unified_diff(change: p.FileChange, shown_path: str) -> str:
    return "".join(difflib.unified_diff(
        (change.old_text or "").splitlines(keepends=True),
        (change.new_text or "").splitlines(keepends=True),
        fromfile=f"{shown_path} (on disk)", tofile=f"{shown_path} (from the descriptor)",
    ))

