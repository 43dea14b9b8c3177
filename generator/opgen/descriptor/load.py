"""load -> merge blueprint -> validate -> model, for one descriptor file.

`blueprint_dirs` are the folders given with `--blueprints`; a descriptor on disk also gets the
folders of the `opgen-settings.yaml` files above it (descriptor/blueprints.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from opgen.descriptor.blueprints import (
    Blueprints, apply_blueprint, blueprint_folders, cluster_label_setting, from_blueprint, runbook_base_url_setting,
)
from opgen.descriptor.fields import INVALID, Context
from opgen.descriptor.model import Service, build_service
from opgen.descriptor.source import Source, parse_yaml, read_yaml
from opgen.descriptor.spec import DESCRIPTOR
from opgen.descriptor.validate import check_model, check_service
from opgen.errors import DescriptorError, Position, Problem


def load_service(path: Path, display_name: str | None = None, blueprint_dirs: tuple[Path, ...] = ()) -> Service:
    """The validated service of one descriptor; DescriptorError lists every problem found."""
    source = read_yaml(path, display_name or str(path))
    return validate_source(source, blueprint_folders(path.parent, blueprint_dirs),
                           runbook_base_url=runbook_base_url_setting(path.parent),
                           cluster_label=cluster_label_setting(path.parent))[0]


@dataclass(frozen=True)
class Validated:
    service: Service
    warnings: tuple[Problem, ...]
    name_position: Position  # where metadata.name is written, for problems between descriptors


def load_validated(path: Path, display_name: str, blueprint_dirs: tuple[Path, ...] = (),
                   blueprints: Blueprints | None = None, raw: bytes | None = None, out_dir: Path | None = None) -> Validated:
    """`blueprints` shares blueprint and settings files between the descriptors of one run;
    `raw` is the descriptor's bytes when the caller has read them already; `out_dir` is where its
    files go (default: ops/ beside it), which the settings' runbook_base_url leads to."""
    blueprints = blueprints or Blueprints()
    source = parse_yaml(raw, display_name) if raw is not None else read_yaml(path, display_name)
    service, warnings = validate_source(source, blueprints.folders(path.parent, blueprint_dirs), blueprints,
                                        blueprints.runbook_base_url(path.parent, out_dir), blueprints.cluster_label(path.parent))
    return Validated(service, tuple(warnings), source.position(("metadata", "name")))


def load_service_text(text: str, display_name: str, blueprint_dirs: tuple[Path, ...] = ()) -> Service:
    """Like load_service, for a descriptor not on disk yet: `blueprint_dirs` are all the user
    blueprint folders it sees (no settings file is looked up)."""
    return validate_source(parse_yaml(text.encode("utf-8"), display_name), blueprint_dirs)[0]


def validate_source(source: Source, blueprint_dirs: tuple[Path, ...] = (), blueprints: Blueprints | None = None,
                    runbook_base_url: str | None = None, cluster_label: str | None = None) -> tuple[Service, list[Problem]]:
    """The service and the warnings about it; DescriptorError when anything is wrong.
    `runbook_base_url` is the settings' (descriptor/blueprints.py), which the descriptor's own overrides;
    `cluster_label` the settings' `clusters.label`."""
    source = apply_blueprint(source, blueprint_dirs, blueprints)
    ctx = Context(source)
    data = DESCRIPTOR.validate(source.data, (), ctx)
    if data is not INVALID and not ctx.problems:
        check_service(data, ctx)
    if ctx.problems:
        raise DescriptorError([naming_the_descriptor(p, source.file) for p in ctx.problems])
    service = build_service(data, source.file)
    inherited = frozenset(f for f in ("min_replicas", "max_replicas", "target_cpu_utilization")
                          if from_blueprint(source, ("spec", "scaling", f)))
    service = replace(service, scaling=replace(service.scaling, from_blueprint=inherited))
    if service.runbook_base_url is None and runbook_base_url is not None:
        service = replace(service, runbook_base_url=runbook_base_url)
    if cluster_label is not None:
        service = replace(service, cluster_label=cluster_label)
    check_model(service, ctx)
    return service, ctx.warnings


def naming_the_descriptor(problem: Problem, descriptor: str) -> Problem:
    """A problem with a value the descriptor takes from its blueprint points at the blueprint's
    line; in a fleet, many descriptors share that line, so the message says which one it is about.
    (Warnings get this when printed: sync keeps them in the manifest, which must not hold paths
    as seen from wherever opgen ran.)"""
    if problem.position.file == descriptor:
        return problem
    return Problem(problem.position, f"{problem.message} (for {descriptor}, which takes this value from its blueprint; "
                                     "set it in the descriptor to override it)")
