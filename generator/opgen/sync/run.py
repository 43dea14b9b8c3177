"""The sync pipeline: descriptors -> services -> artifacts -> plan -> (unless checking) write."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path

from opgen import conventions as c
from opgen.descriptor.load import load_validated
from opgen.descriptor.model import Service
from opgen.errors import DescriptorError, Position, Problem
from opgen.paths import display_path
from opgen.render import RenderContext, render_all
from opgen.sync import plan as p
from opgen.sync.discover import find_descriptors
from opgen.sync.manifest import Entry, content_hash, manifest_file, read_manifest
from opgen.sync.write import atomic_write, confined


@dataclass(frozen=True)
class Loaded:
    descriptor: Path
    service: Service
    out_dir: Path
    warnings: tuple[Problem, ...] = ()
    name_position: Position | None = None


@dataclass
class Report:
    changes: list[tuple[Path, p.FileChange]] = field(default_factory=list)  # (output folder, change)
    backups: list[Path] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for _, ch in self.changes if ch.action == action)

    @property
    def drifted(self) -> list[tuple[Path, p.FileChange]]:
        return [(o, ch) for o, ch in self.changes if ch.action != p.UNCHANGED]


def load_services(paths: list[Path], out: Path | None = None, blueprint_dirs: tuple[Path, ...] = ()) -> list[Loaded]:
    """Every descriptor named by `paths`, validated; one DescriptorError with all problems of all files."""
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
        loaded.append(Loaded(descriptor, result.service, out_dir, result.warnings, result.name_position))
    seen: dict[tuple[Path, str], Loaded] = {}
    for item in loaded:
        key = (item.out_dir.resolve(), item.service.name)
        if key in seen:
            first = seen[key].name_position
            problems.append(Problem(item.name_position,
                                    f"service {item.service.name!r} is also described at {first}; one descriptor per service"))
        seen.setdefault(key, item)
    if problems:
        raise DescriptorError(problems)
    return loaded


def plan(loaded: list[Loaded]) -> Report:
    report = Report()
    by_out: dict[Path, list[Loaded]] = {}
    for item in loaded:
        by_out.setdefault(item.out_dir, []).append(item)
    for out_dir, items in sorted(by_out.items()):
        rendered = {i.service.name: render_all(RenderContext(i.service, descriptor_label(i.descriptor, out_dir))) for i in items}
        for change in p.plan_output(out_dir, rendered, read_manifest(out_dir)):
            report.changes.append((out_dir, change))
    return report


def apply(report: Report, force: bool = False) -> None:
    """Write the plan: files first, each atomically, then each folder's manifest."""
    by_out: dict[Path, list[p.FileChange]] = {}
    for out_dir, change in report.changes:
        by_out.setdefault(out_dir, []).append(change)
    for out_dir, changes in by_out.items():
        manifest = read_manifest(out_dir)
        for change in changes:
            target = confined(out_dir, change.path)
            if change.action in (p.CONFLICT, p.ORPHANED) and force:
                backup = target.with_name(target.name + ".orig")
                atomic_write(backup, change.old_text or "")
                report.backups.append(backup)
            if change.action in (p.CREATE, p.UPDATE) or (change.action == p.CONFLICT and force):
                atomic_write(target, change.new_text)
            if change.action == p.DELETE or (change.action == p.ORPHANED and force):
                target.unlink()
                manifest.files.pop(change.path, None)
            elif change.action != p.CONFLICT or force:
                if change.new_text is not None:
                    manifest.files[change.path] = Entry(change.service, content_hash(change.new_text))
        atomic_write(manifest_file(out_dir), manifest.to_json())


def descriptor_label(descriptor: Path, out_dir: Path) -> str:
    """The descriptor as seen from the folder that holds ops/: stable wherever opgen runs from."""
    return Path(os.path.relpath(descriptor.resolve(), out_dir.resolve().parent)).as_posix()


def unified_diff(change: p.FileChange, shown_path: str) -> str:
    return "".join(difflib.unified_diff(
        (change.old_text or "").splitlines(keepends=True),
        (change.new_text or "").splitlines(keepends=True),
        fromfile=f"{shown_path} (on disk)", tofile=f"{shown_path} (from the descriptor)",
    ))

