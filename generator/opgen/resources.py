"""Where opgen's own data (blueprints, templates) lives, installed or in a checkout."""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def data_path(name: str) -> Path:
    """A wheel carries blueprints/ and templates/ inside the package (opgen/_data);
    an editable install or a checkout reads them from the repository root."""
    packaged = Path(__file__).parent / "_data" / name
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"opgen's {name}/ folder is missing from the installation ({packaged})")
