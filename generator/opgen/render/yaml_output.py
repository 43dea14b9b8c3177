"""Serialize data to YAML: deterministic, block style, multi-line strings as literal blocks."""

from __future__ import annotations

import io
from typing import Any


def dump_yaml(data: Any, header: str = "") -> str:
    from ruamel.yaml import YAML
    from ruamel.yaml.scalarstring import LiteralScalarString

    def literal_blocks(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: literal_blocks(v) for k, v in value.items()}
        if isinstance(value, list):
            return [literal_blocks(v) for v in value]
        if isinstance(value, str) and "\n" in value:
            return LiteralScalarString(value if value.endswith("\n") else value + "\n")
        return value

    yaml = YAML(typ="rt", pure=True)
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    yaml.dump(literal_blocks(data), buffer)
    return header + buffer.getvalue()
