"""What a service's files are made from, as hashes: the key of the sync's cache.

A service's files are a pure function of its RenderContext (opgen.render): the validated
service, its descriptor's label, its rules format, and its neighbourhood in the fleet. The
service comes from the descriptor's bytes, its blueprint's bytes and the settings files above
it, read by this opgen. `inputs_key` hashes all of that; the neighbourhood is hashed apart
(`neighbourhood_key`), since it needs the whole fleet. The manifest records both keys for each
service with the facts the fleet needs of it (sync/manifest.py), so a later sync can tell, from
hashes alone, that a service would come out the same, and neither parse nor render it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from functools import cache
from pathlib import Path

from opgen import __version__
from opgen.fleet import Neighbourhood


@cache
def opgen_fingerprint() -> str:
    """opgen's own code, templates and blueprints, and the versions of Python and of the libraries
    whose output can reach a file: a new opgen, even an unreleased edit of it, misses the cache."""
    from opgen import resources

    return fingerprint_of(Path(__file__).resolve().parents[1], resources.data_path("templates"),
                          resources.data_path("blueprints"))


def fingerprint_of(package: Path, templates: Path, blueprints: Path) -> str:
    """The same for a checkout (templates/ and blueprints/ beside the package) and a wheel (inside
    it, under _data/): each file counts by its path in its own folder."""
    digest = hashlib.sha256(f"opgen {__version__}; python {sys.version_info[:2]}".encode())
    for module, distribution in (("jinja2", "jinja2"), ("ruamel.yaml", "ruamel.yaml")):
        digest.update(f"; {distribution} {_installed_version(module, distribution)}".encode())
    digest.update(f"; tz {_time_zone_database()}".encode())  # maintenance masks hold the zones' offsets
    for name, root in (("code", package), ("templates", templates), ("blueprints", blueprints)):
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if (not path.is_file() or relative.parts[0] == "_data" or "__pycache__" in relative.parts
                    or path.suffix == ".pyc"):
                continue
            digest.update(f"\0{name}/{relative.as_posix()}\0".encode() + path.read_bytes())
    return digest.hexdigest()


def _time_zone_database() -> str:
    """What identifies the IANA database zoneinfo reads: in the first folder of its search path
    that exists, the version its `tzdata.zi` or `+VERSION` names, else each file's name, size and
    modification time; with no such folder, the tzdata package's version."""
    import zoneinfo

    for folder in map(Path, zoneinfo.TZPATH):
        if not folder.is_dir():
            continue
        for name in ("tzdata.zi", "+VERSION"):
            try:
                with open(folder / name, encoding="utf-8", errors="replace") as data:
                    return f"{folder} {data.readline().strip()}"
            except OSError:
                continue
        listing = hashlib.sha256()
        for path in sorted(folder.rglob("*")):
            try:
                found = path.stat()
            except OSError:
                continue
            listing.update(f"{path.relative_to(folder)} {found.st_size} {found.st_mtime_ns}\n".encode())
        return f"{folder} {listing.hexdigest()}"
    return f"tzdata {_installed_version('tzdata', 'tzdata')}"


def _installed_version(module: str, distribution: str) -> str:
    """The version in the dist-info folder beside the module, without importing it (importlib.metadata
    scans every installed distribution: 50 ms, a tenth of a no-op check's budget)."""
    import importlib.util
    import os

    try:
        spec = importlib.util.find_spec(module)
    except ImportError:
        return "?"
    if spec is None or spec.origin is None:
        return "?"
    site = Path(spec.origin).parents[module.count(".") + 1]
    prefix = distribution.replace("-", "_").replace(".", "_").lower() + "-"
    try:
        names = sorted(n for n in os.listdir(site) if n.endswith(".dist-info") and n.replace(".", "_").lower().startswith(prefix))
    except OSError:
        return "?"
    return ",".join(n[len(prefix):-len(".dist-info")] for n in names) or "?"


def inputs_key(descriptor: bytes, label: str, rules_format: str, blueprint: str | None, blueprint_file: bytes | None,
               runbook_base_url: str | None = None, cluster_label: str | None = None) -> str:
    """Everything a service's files are made from but the fleet. Settings files count through what
    they decide: which blueprint file wins (its bytes), the rules format, the runbook base URL and
    the cluster label."""
    digest = hashlib.sha256(opgen_fingerprint().encode())
    for part in (label.encode(), rules_format.encode(), (blueprint or "").encode(), blueprint_file or b"", descriptor,
                 (runbook_base_url or "").encode()):
        digest.update(len(part).to_bytes(8, "big") + part)
    digest.update(b"blueprint file" if blueprint_file is not None else b"no blueprint file")
    if cluster_label is not None:
        digest.update(b"cluster label " + cluster_label.encode())
    return digest.hexdigest()


def neighbourhood_key(neighbourhood: Neighbourhood) -> str:
    """Its repr: frozen dataclasses of tuples, strings, booleans and None print the same way every time."""
    return hashlib.sha256(repr(neighbourhood).encode()).hexdigest()


def fleet_key(parts: list) -> str:
    """The fleet files' key: `parts` is plain data (the facts of every service, and the inputs of
    those whose rules the fleet files carry)."""
    digest = hashlib.sha256(opgen_fingerprint().encode())
    digest.update(json.dumps(parts, sort_keys=True).encode())
    return digest.hexdigest()
