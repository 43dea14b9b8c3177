"""Blueprints: presets of descriptor defaults, deep-merged under a descriptor's spec.

Mappings merge key by key; a list or scalar in the descriptor replaces the blueprint's
(so a descriptor that lists `slos` states all of its SLOs).

Where they come from, first match wins: folders given with `--blueprints`, then the folders
listed in `opgen-settings.yaml` files (the descriptor's folder's, then each parent's, up to the
repository root), then the blueprints opgen ships. So a user blueprint shadows a built-in one of
the same name.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opgen import resources
from opgen.conventions import OPS_DIR, RULES_FORMATS, RUNBOOKS_DIR
from opgen.paths import display_path
from opgen.descriptor.checks import check_url
from opgen.descriptor.fields import INVALID, Choice, Context, Field, ListOf, Number, Object, String
from opgen.descriptor.source import PathKey, Source, read_yaml
from opgen.errors import DescriptorError, Position, Problem

# Not `*.opgen.yaml`: discovery takes those for descriptors (conventions.DESCRIPTOR_SUFFIX).
SETTINGS_FILE = "opgen-settings.yaml"

RULER_TENANTS = ("fleet", "team")
# Labels opgen's rules and alerts set themselves: a cluster label of the same name would be overwritten.
TAKEN_LABELS = ("service", "slo", "team", "tier", "severity", "cause", "long_window", "short_window", "dependency",
                "dependency_kind", "alertname", "job", "instance", "le")
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"


def check_cluster_label(text: str) -> str | None:
    if text.startswith("__"):
        return "is reserved: Prometheus keeps label names starting with __ for itself"
    if text in TAKEN_LABELS:
        return "is a label opgen's rules and alerts set themselves; name the label your clusters' external_labels use"
    return None

SETTINGS = Object(
    (
        Field("blueprints", ListOf(String(max_length=1000, type_label="folder"), max_items=50),
              "Blueprint folders, relative to this file; earlier ones shadow later ones, and all shadow opgen's own.",
              default=[], example=["platform/blueprints"]),
        Field("rules_format", Choice(RULES_FORMATS),
              "How rule files are wrapped: plain Prometheus rule files (also for Thanos ruler), plus a PrometheusRule per "
              "service, or plus Mimir / Cortex ruler namespaces per team. The nearest settings file that sets it wins; "
              "`--format` overrides it.", example="prometheus-operator"),
        Field("runbook_base_url", String(check=check_url, json_format="uri", type_label="URL"),
              "Where this file's folder is browsable on the web (a repository root: https://github.com/acme/shop/blob/main). "
              "Every runbook link (alerts' runbook_url, dashboards, Backstage, runbooks) is this URL followed by the "
              "runbook's path from this folder. The nearest settings file that sets it wins; a descriptor's "
              "metadata.links.runbook_base_url overrides it.", example="https://github.com/acme/shop/blob/main"),
        Field("exclude", ListOf(String(max_length=1000, type_label="folder"), max_items=100),
              "Folders, relative to this file, that a search for descriptors passes by (test fixtures, other fleets); "
              "a descriptor in them is still found when its folder is named.", default=[], example=["tests/fleets"]),
        Field("ruler", Object((
            Field("max_rules_per_rule_group", Number(1, integer=True),
                  "The ruler's limit of rules in one group (Mimir's `-ruler.max-rules-per-rule-group`). "
                  "Default: 20 for `mimir`, none for the other formats.", example=20),
            Field("max_rule_groups_per_tenant", Number(1, integer=True),
                  "The ruler's limit of rule groups in one tenant (Mimir's `-ruler.max-rule-groups-per-tenant`). "
                  "Default: 70 for `mimir`, none for the other formats.", example=70),
            Field("tenant", Choice(RULER_TENANTS),
                  "What one tenant holds: every service synced together (`fleet`, the default), or one team's "
                  "(`team`: load each team's ruler namespace with its own `mimirtool --id`).", example="team"),
        )), "The limits of the ruler that loads the rules, checked by `opgen sync` (which writes nothing when they "
            "are not met) and shown by `opgen rules-stats`. The nearest settings file that sets `ruler` wins."),
        Field("clusters", Object((
            Field("label", String(pattern=LABEL_NAME, pattern_hint="must be a Prometheus label name", max_length=100,
                                  check=check_cluster_label, type_label="label name"),
                  "The label each cluster's Prometheus sets in its `external_labels` to say which cluster it is.",
                  default="cluster", example="cluster"),
        )), "The services run in several clusters, each with its own Prometheus, under a global ruler (Thanos "
            "ruler, Mimir): rules are written per cluster (the SLI recordings from raw series) and global (long "
            "windows, the SLO, alerts per cluster). The nearest settings file that sets `clusters` wins."),
    ),
    doc=f"{SETTINGS_FILE}: settings for the descriptors in its folder and below.",
)


def builtin_blueprint_dir() -> Path:
    return resources.data_path("blueprints")


def blueprint_dirs(extra: tuple[Path, ...] = ()) -> tuple[Path, ...]:
    """Folders searched for `<name>.yaml`, users' first, then the ones opgen ships."""
    return (*extra, builtin_blueprint_dir())


def available_blueprints(extra: tuple[Path, ...] = ()) -> dict[str, Path]:
    """Each blueprint name with the file that wins (the first folder that has it), sorted by name."""
    return {entry.name: entry.path for entry in list_blueprints(extra)}


@dataclass(frozen=True)
class BlueprintFile:
    name: str
    path: Path
    builtin: bool
    shadows: tuple[Path, ...]  # files of the same name in later folders, which this one hides


def list_blueprints(extra: tuple[Path, ...] = ()) -> list[BlueprintFile]:
    found: dict[str, list[tuple[Path, bool]]] = {}
    builtin = builtin_blueprint_dir()
    for folder in blueprint_dirs(extra):
        for path in sorted(folder.glob("*.yaml")):
            found.setdefault(path.stem, []).append((path, folder == builtin))
    return [BlueprintFile(name, paths[0][0], paths[0][1], tuple(p for p, _ in paths[1:]))
            for name, paths in sorted(found.items())]


@dataclass(frozen=True)
class Settings:
    blueprint_folders: tuple[Path, ...]  # resolved against the settings file's folder
    rules_format: str | None
    runbook_base_url: str | None = None  # where the settings file's folder is browsable
    exclude: tuple[Path, ...] = ()  # absolute folders that descriptor searches pass by
    ruler: dict | None = None  # the `ruler` mapping as written (opgen.rule_budget reads it)
    cluster_label: str | None = None  # `clusters.label`; None without `clusters`


def blueprint_folders(descriptor_folder: Path, given: tuple[Path, ...] = (), read=None, files=None) -> tuple[Path, ...]:
    """The user blueprint folders that apply to descriptors in `descriptor_folder` (which need not
    exist yet): the `given` ones (`--blueprints`), then those of the settings files found from
    that folder up to the repository root, nearest first. DescriptorError for a missing folder
    or a bad settings file. `read` reads one settings file (default: read_settings); `files` are
    the settings files when the caller has found them (settings_files)."""
    problems = [Problem(Position("--blueprints", 0, 0), f"{str(folder)!r} is not a folder")
                for folder in given if not folder.is_dir()]
    if problems:
        raise DescriptorError(problems)
    folders = list(given)
    for settings in settings_files(descriptor_folder) if files is None else files:
        folders += (read or read_settings)(settings).blueprint_folders
    return tuple(dict.fromkeys(folders))


def settings_files(folder: Path) -> list[Path]:
    """`opgen-settings.yaml` in `folder` and each parent, nearest first, up to and including the
    repository root (the first folder with `.git`), or the file system's root outside a repository."""
    found = []
    for current in (folder.absolute(), *folder.absolute().parents):
        if (current / SETTINGS_FILE).is_file():
            found.append(current / SETTINGS_FILE)
        if (current / ".git").exists():
            break
    return found


def read_settings(path: Path) -> Settings:
    """One settings file, validated; blueprint folders must exist."""
    source = read_yaml(path, display_name=display_path(path))
    ctx = Context(source)
    data = SETTINGS.validate(source.data, (), ctx)
    folders: list[Path] = []
    if data is not INVALID:
        for index, entry in enumerate(data["blueprints"]):
            folder = path.parent / entry
            if not folder.is_dir():
                ctx.error(("blueprints", index), f"blueprint folder {entry!r} does not exist (looked for {folder.absolute()})")
            folders.append(folder)
    if ctx.problems:
        raise DescriptorError(ctx.problems)
    exclude = tuple(Path(os.path.abspath(path.parent / entry)) for entry in data["exclude"])
    clusters = data.get("clusters")
    return Settings(tuple(folders), data.get("rules_format") or None, data.get("runbook_base_url"), exclude,
                    data.get("ruler"), clusters["label"] if clusters is not None else None)


def rules_format_setting(descriptor_folder: Path, read=None, files=None) -> str | None:
    """`rules_format` of the nearest settings file that sets it, or None. DescriptorError for a bad settings file."""
    for path in settings_files(descriptor_folder) if files is None else files:
        chosen = (read or read_settings)(path).rules_format
        if chosen:
            return chosen
    return None


def ruler_setting(folder: Path, read=None) -> dict | None:
    """`ruler` of the nearest settings file above `folder` that sets it, or None. DescriptorError for a bad settings file."""
    for path in settings_files(folder):
        chosen = (read or read_settings)(path).ruler
        if chosen is not None:
            return chosen
    return None


def cluster_label_setting(descriptor_folder: Path, read=None, files=None) -> str | None:
    """`clusters.label` of the nearest settings file that sets `clusters`, or None (one cluster).
    DescriptorError for a bad settings file."""
    for path in settings_files(descriptor_folder) if files is None else files:
        chosen = (read or read_settings)(path).cluster_label
        if chosen is not None:
            return chosen
    return None


def runbook_base_url_setting(descriptor_folder: Path, out_dir: Path | None = None, read=None, files=None) -> str | None:
    """Where the runbooks of a descriptor in `descriptor_folder`, written to `out_dir` (default:
    its ops/), are browsable: the `runbook_base_url` of the nearest settings file that sets it,
    followed by the runbooks folder's path from that file's folder. None without one, or when the
    runbooks are not below that folder (no URL can reach them)."""
    for path in settings_files(descriptor_folder) if files is None else files:
        base = (read or read_settings)(path).runbook_base_url
        if base:
            runbooks = os.path.abspath((out_dir or descriptor_folder / OPS_DIR) / RUNBOOKS_DIR)
            relative = os.path.relpath(runbooks, os.path.abspath(path.parent))
            if relative == ".." or relative.startswith(".." + os.sep):
                return None
            return f"{base.rstrip('/')}/{Path(relative).as_posix()}"
    return None


def blueprint_name_problem(name: str) -> str | None:
    """Why a file name cannot be a blueprint's (spec.blueprint could never name it), or None."""
    from opgen.descriptor.spec import SLUG

    if re.fullmatch(SLUG, name):
        return None
    return f"{name!r} cannot be a blueprint name (spec.blueprint takes lower-case words joined by '-'); rename the file"


def load_blueprint(path: Path) -> Source:
    """Read and validate one blueprint file on its own."""
    from opgen.descriptor.spec import BLUEPRINT

    source = read_yaml(path, display_name=display_path(path))
    ctx = Context(source)
    BLUEPRINT.validate(source.data, (), ctx)
    if ctx.problems:
        raise DescriptorError(ctx.problems)
    return source


class Blueprints:
    """Blueprint and settings files, each read once: one run over a fleet of a thousand
    descriptors reads five blueprints and a few settings files, not a thousand of each.
    Make one per run; files edited during the run are not seen again."""

    def __init__(self) -> None:
        self._available: dict[tuple[Path, ...], dict[str, Path]] = {}
        self._sources: dict[Path, Source] = {}
        self._folders: dict[tuple[Path, tuple[Path, ...]], tuple[Path, ...]] = {}
        self._formats: dict[Path, str | None] = {}
        self._settings: dict[Path, Settings] = {}
        self._bytes: dict[Path, bytes] = {}
        self._chains: dict[Path, list[Path]] = {}

    def settings(self, path: Path) -> Settings:
        if path not in self._settings:
            self._settings[path] = read_settings(path)
        return self._settings[path]

    def available(self, extra_dirs: tuple[Path, ...]) -> dict[str, Path]:
        if extra_dirs not in self._available:
            self._available[extra_dirs] = available_blueprints(extra_dirs)
        return self._available[extra_dirs]

    def load(self, path: Path) -> Source:
        """The blueprint file, validated; its data is the caller's own copy."""
        if path not in self._sources:
            self._sources[path] = load_blueprint(path)
        source = self._sources[path]
        return Source(source.file, copy.deepcopy(source.data), source.positions, source.key_positions)

    def file_bytes(self, folders: tuple[Path, ...], name: str | None) -> bytes | None:
        """The bytes of the file that blueprint `name` comes from for `folders`; None without one."""
        path = self.available(folders).get(name) if name else None
        if path is None:
            return None
        if path not in self._bytes:
            try:
                self._bytes[path] = path.read_bytes()
            except OSError:
                return None
        return self._bytes[path]

    def folders(self, descriptor_folder: Path, given: tuple[Path, ...]) -> tuple[Path, ...]:
        key = (descriptor_folder.absolute(), given)
        if key not in self._folders:
            self._folders[key] = blueprint_folders(descriptor_folder, given, self.settings, self.settings_files(key[0]))
        return self._folders[key]

    def rules_format(self, descriptor_folder: Path) -> str | None:
        key = descriptor_folder.absolute()
        if key not in self._formats:
            self._formats[key] = rules_format_setting(descriptor_folder, self.settings, self.settings_files(key))
        return self._formats[key]

    def cluster_label(self, descriptor_folder: Path) -> str | None:
        key = descriptor_folder.absolute()
        return cluster_label_setting(descriptor_folder, self.settings, self.settings_files(key))

    def runbook_base_url(self, descriptor_folder: Path, out_dir: Path | None = None) -> str | None:
        key = descriptor_folder.absolute()
        return runbook_base_url_setting(descriptor_folder, out_dir, self.settings, self.settings_files(key))

    def settings_files(self, folder: Path) -> list[Path]:
        """settings_files(folder), sharing the walk up with the folders already seen (`folder` absolute)."""
        if folder not in self._chains:
            here = [folder / SETTINGS_FILE] if (folder / SETTINGS_FILE).is_file() else []
            top = (folder / ".git").exists() or folder.parent == folder
            self._chains[folder] = here + ([] if top else self.settings_files(folder.parent))
        return self._chains[folder]


def apply_blueprint(descriptor: Source, extra_dirs: tuple[Path, ...] = (), blueprints: Blueprints | None = None) -> Source:
    """The descriptor with its blueprint's spec merged under it; positions keep their own files."""
    spec = descriptor.data.get("spec") if isinstance(descriptor.data, dict) else None
    name = spec.get("blueprint") if isinstance(spec, dict) else None
    if not isinstance(name, str):
        return descriptor
    blueprints = blueprints or Blueprints()
    options = blueprints.available(extra_dirs)
    if name not in options:
        close = difflib.get_close_matches(name, list(options), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        known = ", ".join(options) or "none"
        raise DescriptorError([Problem(descriptor.position(("spec", "blueprint")),
                                       f"unknown blueprint {name!r}{hint}; known: {known}")])
    blueprint = blueprints.load(options[name])
    merged = Source(descriptor.file, None)
    merged.data = dict(descriptor.data)
    merged.positions = {k: v for k, v in blueprint.positions.items() if k[:1] == ("spec",)}
    merged.key_positions = {k: v for k, v in blueprint.key_positions.items() if k[:1] == ("spec",)}
    merged.data["spec"] = _merge(blueprint.data["spec"], spec, ("spec",), merged)
    for table, own in ((merged.positions, descriptor.positions), (merged.key_positions, descriptor.key_positions)):
        table.update(own)
    return merged


def from_blueprint(merged: Source, path: PathKey) -> bool:
    """Whether the value at `path` of a descriptor merged with its blueprint (apply_blueprint) came
    from the blueprint: its position is in the blueprint's file, not the descriptor's."""
    return tuple(path) in merged.positions and merged.positions[tuple(path)].file != merged.file


def _merge(base: Any, override: Any, path: PathKey, merged: Source) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        result = dict(base)
        for key, value in override.items():
            result[key] = _merge(base[key], value, path + (key,), merged) if key in base else value
            if key in base and not (isinstance(base[key], dict) and isinstance(value, dict)):
                _forget_below(path + (key,), merged)
        return result
    return override


def _forget_below(path: PathKey, merged: Source) -> None:
    """Drop the blueprint's positions under a value the descriptor replaced."""
    for table in (merged.positions, merged.key_positions):
        for key in [k for k in table if k[: len(path)] == path and len(k) > len(path)]:
            del table[key]

