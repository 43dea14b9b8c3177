"""Which descriptors a command line names: files as given, folders searched below.

A search passes by the folders that an opgen-settings.yaml at or above them lists in `exclude`
(test fixtures, another fleet's descriptors); a descriptor there is found when its folder, or the
file, is named.
"""

from __future__ import annotations

import os
from pathlib import Path

from opgen import conventions as c
from opgen.descriptor.blueprints import SETTINGS_FILE, read_settings, settings_files

SKIPPED_FOLDERS = {c.OPS_DIR, "node_modules", "__pycache__"}


def is_descriptor(path: Path | str) -> bool:
    name = path if isinstance(path, str) else path.name
    return name in c.DESCRIPTOR_FILENAMES or name.endswith(c.DESCRIPTOR_SUFFIX)


def find_descriptors(paths: list[Path]) -> list[Path]:
    """Descriptor files, sorted and without repeats; a folder is searched for service.yaml and *.opgen.yaml.
    DescriptorError for a bad settings file."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            excluded = {str(folder) for settings in settings_files(path) for folder in read_settings(settings).exclude}
            for folder, subfolders, files in os.walk(path):
                if SETTINGS_FILE in files:
                    excluded.update(str(f) for f in read_settings(Path(folder, SETTINGS_FILE)).exclude)
                here = os.path.abspath(folder)
                subfolders[:] = sorted(d for d in subfolders if d not in SKIPPED_FOLDERS and not d.startswith(".")
                                       and os.path.join(here, d) not in excluded)
                found.update(Path(folder, f) for f in files if is_descriptor(f))
        else:
            found.add(path)
    return sorted(found)
