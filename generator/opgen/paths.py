"""How paths are shown to people: relative to the current folder when below it."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


def display_path(path: Path, resolved: Path | None = None) -> str:
    """`path` as shown in messages; `resolved` is path.resolve() when the caller has it already."""
    try:
        return str((resolved or path.resolve()).relative_to(_resolved_cwd(os.getcwd())))
    except ValueError:
        return str(path)


@lru_cache(maxsize=8)
def _resolved_cwd(cwd: str) -> Path:
    return Path(cwd).resolve()
