"""Read generated YAML with a real parser."""

from pathlib import Path

from ruamel.yaml import YAML


def load(path: Path):
    return YAML(typ="safe", pure=True).load(path.read_text())
