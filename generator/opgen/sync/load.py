"""Load a sync's descriptors, one small step each:

1. `find_descriptors`: what the command line names;
2. `place`: where each one's files go, refused if that leads outside its folder (the
   confinement rule, in one place);
3. `read_descriptor`: its bytes, bounded, and the settings that apply to it;
4. `reuse_record`: the service as its manifest record knows it, when its inputs hash as
   recorded (the reuse rule, in one place): not parsed at all;
5. `parse_the_rest`: the others, parsed and validated on every core;
6. `refuse_duplicate_names`, then the fleet folder and the graph's warnings.

Every problem of every descriptor is collected into one DescriptorError.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from opgen import conventions as c
from opgen.descriptor.blueprints import Blueprints, builtin_blueprint_dir
from opgen.descriptor.journey import Journey, is_journey, parse_journey
from opgen.descriptor.load import load_validated
from opgen.descriptor.model import Service
from opgen.descriptor.source import read_source_bytes
from opgen.errors import DescriptorError, FileError, Position, Problem
from opgen.fleet import Fleet, ServiceFacts, build_fleet, ceiling_warnings, facts_of
from opgen.journeys import ResolvedJourney, resolve
from opgen.paths import display_path
from opgen.rule_budget import ServiceBudget
from opgen.sync import parallel
from opgen.sync.discover import find_descriptors
from opgen.sync.inputs import fleet_key, inputs_key
from opgen.sync.manifest import Record, read_manifest


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
    source: str = ""  # its text, for the record (sync/base.py renders what opgen wrote again from it)
    rule_budget: ServiceBudget | None = None  # its rules against a ruler's limits, when a limit applies (cli.py)
    journeys: SyncJourneys | None = None  # the sync's journeys (the same on every service of a sync)

    @property
    def name(self) -> str:
        return self.facts.name

    @property
    def shown(self) -> str:
        return self.name_position.file if self.name_position else display_path(self.descriptor)

    def with_service(self, blueprints: Blueprints | None = None) -> Loaded:
        """With its service, parsed now if it came from its record; `blueprints` is the run's, so a
        graph change that re-renders many recorded services reads each blueprint once."""
        if self.service is not None:
            return self
        result = load_validated(self.descriptor, self.shown, self.blueprint_dirs, blueprints, out_dir=self.out_dir)
        return replace(self, service=result.service)


@dataclass(eq=False)
class SyncJourneys:
    """The journeys of a sync (`kind: Journey` documents). A journey reads its steps' SLOs, so
    resolving it parses the steps' services; when the journeys, the steps' inputs and the fleet's
    facts hash as the fleet's manifest record says (`key`), the record's warnings stand and the
    steps are parsed only if the fleet files must be rendered after all (`resolved`)."""

    documents: tuple[Journey, ...]  # by name
    key: str
    warnings: tuple[Problem, ...]
    runbook_base_url: str | None
    resolve: Callable[[], tuple[ResolvedJourney, ...]]
    _resolved: tuple[ResolvedJourney, ...] | None = None
    rules_formats: dict[str, str] = field(default_factory=dict)  # by journey: its steps' rules format, if they share one

    def rules_format(self, name: str) -> str:
        """Where the journey's rules go besides its plain file: `mimir` when every step's service is in a
        Mimir ruler namespace (the journey's groups join its team's namespace), else the plain file alone."""
        return self.rules_formats.get(name, c.DEFAULT_RULES_FORMAT)

    def __getstate__(self) -> dict:  # for worker processes, which render services, never journeys
        return {**self.__dict__, "resolve": None}

    def resolved(self) -> tuple[ResolvedJourney, ...]:
        if self._resolved is None:
            self._resolved = self.resolve()
        return self._resolved

    def recorded_warnings(self) -> tuple[tuple[str, int, int, str], ...]:
        """The warnings for the record: each by its journey's name, so a clone elsewhere finds its file."""
        by_file = {d.file: d.name for d in self.documents}
        return tuple((by_file.get(w.position.file, ""), w.position.line, w.position.column, w.message) for w in self.warnings)


@dataclass(frozen=True)
class DescriptorFile:
    """A descriptor placed and read: where its files go and what it is made of."""

    descriptor: Path
    shown: str
    out_dir: Path
    out_real: Path  # out_dir resolved
    raw: bytes
    label: str
    rules_format: str
    runbook_base_url: str | None  # what its settings files say
    folders: tuple[Path, ...]  # the blueprint folders it sees
    cluster_label: str | None = None  # what its settings files say (`clusters.label`)


def load_services(paths: list[Path], out: Path | None = None, blueprint_dirs: tuple[Path, ...] = (),
                  rules_format: str | None = None, reuse: bool = True) -> list[Loaded]:
    """Every descriptor named by `paths`, validated; one DescriptorError with all problems of all files.
    `blueprint_dirs` are the `--blueprints` folders; each descriptor also sees its settings files' folders.
    `rules_format` (`--format`) overrides the `rules_format` of the settings files. With `reuse`, a
    descriptor whose inputs hash as its manifest record says is not parsed (it was valid then)."""
    descriptors = find_descriptors(paths)
    if not descriptors:
        names = ", ".join(str(x) for x in paths)
        raise DescriptorError([Problem(Position(names), "no descriptor found (looked for service.yaml and *.opgen.yaml)")])
    blueprints = Blueprints()
    real_folder = _RealFolders()
    problems: list[Problem] = []
    records = _Records(reuse)
    loaded: list[Loaded | None] = []
    to_parse: list[tuple[int, DescriptorFile]] = []
    journeys: list[Journey] = []
    for descriptor in descriptors:
        try:
            journey = read_journey(descriptor)
        except DescriptorError as exc:
            problems += exc.problems
            continue
        if journey is not None:
            journeys.append(journey)
            continue
        try:
            file = read_descriptor(descriptor, *place(descriptor, out, real_folder), rules_format, blueprints, blueprint_dirs)
        except DescriptorError as exc:
            problems += exc.problems
            continue
        item = reuse_record(file, records.of(file.out_dir).get(file.label), blueprints, blueprint_dirs)
        if item is None:
            to_parse.append((len(loaded), file))
        loaded.append(item)
    for (index, file), result in zip(to_parse, parse_the_rest([f for _, f in to_parse], blueprints, blueprint_dirs)):
        if isinstance(result, DescriptorError):
            problems += result.problems
        else:
            loaded[index] = result
    found = [item for item in loaded if item is not None]
    problems += refuse_duplicate_names(found)
    fleet_dir, problem = fleet_folder_of(paths, out, found)
    problems += [problem] if problem else []
    synced_journeys = None
    if journeys and not problems:
        found, synced_journeys, journey_problems = load_journeys(journeys, found, blueprints, fleet_dir, reuse)
        problems += journey_problems
    if problems:
        raise DescriptorError(sorted(set(problems)))  # a bad settings file or --blueprints folder is one problem, not one per descriptor
    found = with_graph_warnings(found, fleet_dir)
    return [replace(i, journeys=synced_journeys) for i in found] if synced_journeys else found


def load_journeys(journeys: list[Journey], found: list[Loaded], blueprints: Blueprints, fleet_dir: Path,
                  reuse: bool) -> tuple[list[Loaded], SyncJourneys | None, list[Problem]]:
    """(the services, the steps' parsed if the journeys were resolved now; the sync's journeys; their
    errors). As recorded (SyncJourneys), the journeys are resolved only when the fleet files are rendered."""
    base_url = blueprints.runbook_base_url(fleet_dir.parent, fleet_dir)
    documents = tuple(sorted(journeys, key=lambda j: (j.name, j.file)))
    steps = {step.service for journey in journeys for step in journey.steps}
    key = fleet_key([[[j.name, j.source] for j in documents], base_url,
                     sorted([i.name, i.inputs] for i in found if i.name in steps),
                     sorted([i.name, i.facts.team, i.facts.slack, i.facts.pagerduty_service_id] for i in found)])  # whom they page
    formats_of = {i.name: i.rules_format for i in found}
    rules_formats = {}
    for journey in documents:
        formats = {formats_of.get(step.service) for step in journey.steps}
        rules_formats[journey.name] = formats.pop() if len(formats) == 1 and None not in formats else c.DEFAULT_RULES_FORMAT
    record = _fleet_record(fleet_dir) if reuse else None
    if record is not None and record.journeys == key:
        by_name = {j.name: j for j in documents}
        warnings = tuple(Problem(Position(by_name[name].file, line, column), message)
                         for name, line, column, message in record.warnings if name in by_name)

        def resolve_later() -> tuple[ResolvedJourney, ...]:
            _, resolved, _, _ = resolve_journeys(journeys, found, blueprints, base_url)
            return tuple(resolved)

        return found, SyncJourneys(documents, key, warnings, base_url, resolve_later, rules_formats=rules_formats), []
    found, resolved, problems, warnings = resolve_journeys(journeys, found, blueprints, base_url)
    if problems:
        return found, None, problems
    from opgen.render.alertmanager_routes import unpaged_journeys

    for journey in resolved:
        formats = sorted({formats_of[s.service.name] for s in journey.steps})
        if len(formats) > 1 and "mimir" in formats:
            warnings.append(Problem(journey.journey.name_position, (
                f"the steps of journey {journey.journey.name!r} are in different rules formats ({', '.join(formats)}), so "
                f"its rules join no Mimir namespace: load {c.journey_rules_path(journey.journey.name)} where every step's "
                "rules are evaluated, or give its steps' services one rules_format")))
    unpaged = unpaged_journeys(fleet_of(found), tuple(resolved))
    for journey in resolved:
        where = unpaged.get(journey.journey.name)
        if where:
            warnings.append(Problem(journey.journey.name_position, (
                f"the pages of journey {journey.journey.name!r} go to {where}, where nobody is paged; give team "
                f"{journey.journey.team} a pager: metadata.oncall.pagerduty_service_id in the journey or in the team's "
                "services' descriptors, then run `opgen sync` on the fleet")))
    resolved = tuple(resolved)
    return found, SyncJourneys(documents, key, tuple(warnings), base_url, lambda: resolved, resolved, rules_formats), []


def _fleet_record(fleet_dir: Path) -> Record | None:
    """The fleet files' record in the fleet folder's manifest (None if there is none, or it cannot be read)."""
    try:
        return read_manifest(fleet_dir).services.get(c.FLEET_OWNER)
    except FileError:
        return None


def read_journey(descriptor: Path) -> Journey | None:
    """The journey a `*.opgen.yaml` file holds (`kind: Journey`), parsed with positions; None for a service descriptor."""
    if not descriptor.name.endswith(c.DESCRIPTOR_SUFFIX):
        return None
    shown = display_path(descriptor)
    raw = read_source_bytes(descriptor, shown)
    return parse_journey(raw, shown) if is_journey(raw) else None


def resolve_journeys(journeys: list[Journey], found: list[Loaded], blueprints: Blueprints, runbook_base_url: str | None):
    """(the services, those a journey names now parsed; the journeys resolved, sorted by name;
    their errors; their warnings). A journey reads its steps' SLOs, so a step's service that came
    from its manifest record is parsed after all."""
    named = {step.service for journey in journeys for step in journey.steps}
    found = [i.with_service(blueprints) if i.name in named else i for i in found]
    services = {i.name: i.service for i in found if i.service is not None}
    resolved, problems, warnings = [], [], []
    seen: dict[str, Journey] = {}
    for journey in sorted(journeys, key=lambda j: (j.name, j.file)):
        if journey.name in seen:
            problems.append(Problem(journey.name_position, (
                f"journey {journey.name!r} is also described at {seen[journey.name].name_position}; one document per journey")))
            continue
        seen[journey.name] = journey
        result, errors, warned = resolve(journey, services)
        problems += errors
        warnings += warned
        if result is not None:
            resolved.append(replace(result, runbook_base_url=runbook_base_url))
    return found, resolved, problems, warnings


class _Records:
    """The manifest records of each output folder, read once (none without reuse)."""

    def __init__(self, reuse: bool) -> None:
        self.reuse = reuse
        self.by_folder: dict[Path, dict[str, Record]] = {}

    def of(self, out_dir: Path) -> dict[str, Record]:
        if not self.reuse:
            return {}
        if out_dir not in self.by_folder:
            try:
                services = read_manifest(out_dir).services.values()
            except FileError:  # the plan reads it again under the lock and says what is wrong
                services = []
            self.by_folder[out_dir] = {r.descriptor: r for r in services}
        return self.by_folder[out_dir]


def place(descriptor: Path, out: Path | None, real_folder: _RealFolders) -> tuple[str, Path, Path, Path]:
    """(how the descriptor is shown, its output folder, that folder resolved, the descriptor
    resolved). Without --out the
    output folder is ops/ beside the descriptor and must stay below the descriptor's folder, so a
    symlinked ops/ cannot send the files elsewhere; with --out, it is where the user said."""
    try:
        folder_real = real_folder(descriptor.parent)
        real = descriptor.resolve() if os.path.islink(descriptor) else folder_real / descriptor.name
        out_dir = out if out is not None else descriptor.parent / c.OPS_DIR
        out_real = out_dir.resolve() if out is not None or os.path.islink(out_dir) else folder_real / c.OPS_DIR
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise DescriptorError([Problem(Position(str(descriptor), 0, 0), f"cannot follow: {getattr(exc, 'strerror', None) or exc}")])
    shown = display_path(descriptor, real)
    if out is None and not out_real.is_relative_to(folder_real):
        raise DescriptorError([Problem(Position(display_path(out_dir), 0, 0), (
            f"leads outside the descriptor's folder (to {out_real}); opgen writes only below it "
            "(use --out to choose another folder)"))])
    if out_dir.exists() and not out_dir.is_dir():
        raise DescriptorError([Problem(Position(display_path(out_dir), 0, 0), "is a file where opgen needs a folder")])
    return shown, out_dir, out_real, real


def read_descriptor(descriptor: Path, shown: str, out_dir: Path, out_real: Path, real: Path, rules_format: str | None,
                    blueprints: Blueprints, blueprint_dirs: tuple[Path, ...]) -> DescriptorFile:
    """Its bytes (bounded: a FIFO or /dev/zero is refused, not read forever) and its settings."""
    raw = read_source_bytes(descriptor, shown)
    chosen = rules_format or blueprints.rules_format(descriptor.parent) or c.DEFAULT_RULES_FORMAT
    runbook_base_url = blueprints.runbook_base_url(descriptor.parent, out_dir)
    folders = blueprints.folders(descriptor.parent, blueprint_dirs)
    label = Path(os.path.relpath(real, out_real.parent)).as_posix()
    return DescriptorFile(descriptor, shown, out_dir, out_real, raw, label, chosen, runbook_base_url, folders,
                          blueprints.cluster_label(descriptor.parent))


def reuse_record(file: DescriptorFile, record: Record | None, blueprints: Blueprints,
                 blueprint_dirs: tuple[Path, ...]) -> Loaded | None:
    """The descriptor as its record knows it, when its inputs are what they were; else None."""
    if record is None:
        return None
    key = inputs_key(file.raw, file.label, file.rules_format, record.blueprint, blueprints.file_bytes(file.folders, record.blueprint),
                     file.runbook_base_url, file.cluster_label)
    if key != record.inputs:
        return None
    try:
        facts = ServiceFacts.from_json(record.facts)
    except (KeyError, TypeError, ValueError):
        return None

    def where(warned_file: str) -> str:
        if not warned_file:
            return file.shown
        folder = builtin_blueprint_dir().resolve() if warned_file.startswith(BUILTIN) else file.descriptor.parent.resolve()
        path = Path(os.path.normpath(os.path.join(folder, warned_file.removeprefix(BUILTIN))))
        return display_path(path, path)

    warnings = tuple(Problem(Position(where(f), line, col), message) for f, line, col, message in record.warnings)
    try:
        budget = ServiceBudget.from_json(record.rule_budget) if record.rule_budget else None
    except (KeyError, TypeError, ValueError):
        budget = None  # computed again when a limit asks for it
    return Loaded(file.descriptor, None, file.out_dir, facts, key, file.label, file.out_real.as_posix(), warnings,
                  Position(file.shown, *record.name_line), file.rules_format, blueprint_dirs=blueprint_dirs,
                  blueprint=record.blueprint, record=record, source=file.raw.decode("utf-8", "replace"), rule_budget=budget)


def parse_the_rest(files: list[DescriptorFile], blueprints: Blueprints, blueprint_dirs: tuple[Path, ...]) -> list:
    """Each file parsed and validated (on every core): its Loaded, or the DescriptorError it raised."""
    jobs = [(f.descriptor, f.shown, blueprint_dirs, f.raw, f.out_dir) for f in files]
    results = []
    for file, result in zip(files, parallel.parse_all(jobs, blueprints)):
        if isinstance(result, DescriptorError):
            results.append(result)
            continue
        service = result.service
        key = inputs_key(file.raw, file.label, file.rules_format, service.blueprint,
                         blueprints.file_bytes(file.folders, service.blueprint), file.runbook_base_url, file.cluster_label)
        results.append(Loaded(file.descriptor, service, file.out_dir, facts_of(service), key, file.label,
                              file.out_real.as_posix(), result.warnings, result.name_position, file.rules_format,
                              blueprint=service.blueprint, blueprint_dirs=blueprint_dirs, source=file.raw.decode("utf-8", "replace")))
    return results


def refuse_duplicate_names(loaded: list[Loaded]) -> list[Problem]:
    """One fleet, one graph: a name must say which service, whatever folder it is in."""
    seen: dict[str, Loaded] = {}
    problems = []
    for item in loaded:
        if item.name in seen:
            problems.append(Problem(item.name_position, (
                f"service {item.name!r} is also described at {seen[item.name].name_position}; one descriptor per service")))
        seen.setdefault(item.name, item)
    return problems


def fleet_folder_of(paths: list[Path], out: Path | None, loaded: list[Loaded]) -> tuple[Path, Problem | None]:
    """Where the sync writes its fleet files, spelled as the service whose ops/ it is (often one
    is); a problem when it leads outside its folder."""
    fleet_dir = fleet_folder(paths, out)
    try:
        fleet_real = fleet_dir.resolve()
    except (OSError, RuntimeError) as exc:
        return fleet_dir, Problem(Position(display_path(fleet_dir), 0, 0), f"cannot follow: {exc}")
    fleet_dir = next((i.out_dir for i in loaded if i.out_real == fleet_real.as_posix()), fleet_dir)
    if out is None and not fleet_real.is_relative_to(fleet_dir.parent.resolve()):
        return fleet_dir, Problem(Position(display_path(fleet_dir), 0, 0), (
            f"leads outside its folder (to {fleet_real}); opgen writes the fleet's files only below it"))
    return fleet_dir, None


class _RealFolders:
    """Path.resolve() for the folders of a fleet, sharing each parent's: one lstat per folder."""

    def __init__(self) -> None:
        self.known: dict[Path, Path] = {}

    def __call__(self, folder: Path) -> Path:
        if folder not in self.known:
            simple = folder.name not in ("", ".", "..") and folder.parent != folder and not os.path.islink(folder)
            self.known[folder] = self(folder.parent) / folder.name if simple else folder.resolve()
        return self.known[folder]


BUILTIN = "opgen:"  # a file of opgen's own blueprints, in a record: wherever opgen is installed


def recorded_file(path: Path, descriptor_folder: Path) -> str:
    """Where a warning points, as a record keeps it: the same on every machine."""
    real, builtin = path.resolve(), builtin_blueprint_dir().resolve()
    if real.is_relative_to(builtin):
        return BUILTIN + real.relative_to(builtin).as_posix()
    return Path(os.path.relpath(real, descriptor_folder.resolve())).as_posix()


def record_of(item: Loaded, neighbourhood: str, graph: str) -> Record:
    """What `item`'s files are made from, for the manifest."""
    warnings = tuple(("" if w.position.file == item.shown else recorded_file(Path(w.position.file), item.descriptor.parent),
                      w.position.line, w.position.column, w.message) for w in item.warnings)
    name_line = (item.name_position.line, item.name_position.column) if item.name_position else (1, 1)
    return Record(item.label, item.inputs, neighbourhood, graph, item.blueprint, item.facts.to_json(), warnings, name_line,
                  item.source, item.rule_budget.to_json() if item.rule_budget else {})


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
    for name, messages in ceiling_warnings(fleet).items() if len(loaded) > 1 else ():
        extra.setdefault(name, []).extend(Problem(by_name[name].name_position, m) for m in messages)
    return [replace(i, fleet_dir=fleet_dir, graph_warnings=tuple(extra.get(i.name, ()))) for i in loaded]


def descriptor_label(descriptor: Path, out_dir: Path) -> str:
    """The descriptor as seen from the folder that holds ops/: stable wherever opgen runs from."""
    return Path(os.path.relpath(descriptor.resolve(), out_dir.resolve().parent)).as_posix()
