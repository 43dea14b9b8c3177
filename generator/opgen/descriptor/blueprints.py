"""Blueprints: presets of descriptor defaults, deep-merged under a descriptor's spec.

Mappings merge key by key; a list or scalar in the descriptor replaces the blueprint's
(so a descriptor that lists `slos` states all of its SLOs).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from opgen import resources
from opgen.paths import display_path
from opgen.descriptor.fields import Context
from opgen.descriptor.source import PathKey, Source, read_yaml
from opgen.errors import DescriptorError, Problem


def blueprint_dirs(extra: tuple[Path, ...] = ()) -> tuple[Path, ...]:
    """Folders searched for `<name>.yaml`, users' first, then the ones opgen ships."""
    return (*extra, resources.data_path("blueprints"))


def available_blueprints(extra: tuple[Path, ...] = ()) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in reversed(blueprint_dirs(extra)):
        for path in sorted(folder.glob("*.yaml")):
            found[path.stem] = path
    return dict(sorted(found.items()))


def load_blueprint(path: Path) -> Source:
    """Read and validate one blueprint file on its own."""
    from opgen.descriptor.spec import BLUEPRINT

    source = read_yaml(path, display_name=display_path(path))
    ctx = Context(source)
    BLUEPRINT.validate(source.data, (), ctx)
    if ctx.problems:
        raise DescriptorError(ctx.problems)
    return source


def apply_blueprint(descriptor: Source, extra_dirs: tuple[Path, ...] = ()) -> Source:
    """The descriptor with its blueprint's spec merged under it; positions keep their own files."""
    spec = descriptor.data.get("spec") if isinstance(descriptor.data, dict) else None
    name = spec.get("blueprint") if isinstance(spec, dict) else None
    if not isinstance(name, str):
        return descriptor
    options = available_blueprints(extra_dirs)
    if name not in options:
        close = difflib.get_close_matches(name, list(options), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        known = ", ".join(options) or "none"
        raise DescriptorError([Problem(descriptor.position(("spec", "blueprint")),
                                       f"unknown blueprint {name!r}{hint}; known: {known}")])
    blueprint = load_blueprint(options[name])
    merged = Source(descriptor.file, None)
    merged.data = dict(descriptor.data)
    merged.positions = {k: v for k, v in blueprint.positions.items() if k[:1] == ("spec",)}
    merged.key_positions = {k: v for k, v in blueprint.key_positions.items() if k[:1] == ("spec",)}
    merged.data["spec"] = _merge(blueprint.data["spec"], spec, ("spec",), merged)
    for table, own in ((merged.positions, descriptor.positions), (merged.key_positions, descriptor.key_positions)):
        table.update(own)
    return merged


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

