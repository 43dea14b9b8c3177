"""Which descriptors a command line names: files as given, folders searched below."""

from __future__ import annotations

import os
from pathlib import Path

from opgen import conventions as c

SKIPPED_FOLDERS = {c.OPS_DIR, "node_modules", "__pycache__"}


def is_descriptor(path: Path | str) -> bool:
    name = path if isinstance(path, str) else path.name
    return name in c.DESCRIPTOR_FILENAMES or name.endswith(c.DESCRIPTOR_SUFFIX)


def find_descriptors(paths: list[Path]) -> list[Path]:
    """Descriptor files, sorted and without repeats; a folder is searched for service.yaml and *.opgen.yaml."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            for folder, subfolders, files in os.walk(path):
                subfolders[:] = sorted(d for d in subfolders if d not in SKIPPED_FOLDERS and not d.startswith("."))
                found.update(Path(folder, f) for f in files if is_descriptor(f))
        else:
            found.add(path)
    return sorted(found)
