"""Read a YAML file into plain data plus the position of every value.

The rest of opgen works on plain dicts, lists and scalars; a `Positions` map
(path tuple -> Position) lets any later step point at the line and column a value came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opgen.errors import DescriptorError, Position, Problem

MAX_FILE_BYTES = 1_000_000
MAX_NODES = 20_000  # bounds alias expansion ("billion laughs") and absurd documents

PathKey = tuple[Any, ...]


@dataclass
class Source:
    """One YAML document as plain data, with where each value (and each mapping key) sits."""

    file: str
    data: Any
    positions: dict[PathKey, Position] = field(default_factory=dict)
    key_positions: dict[PathKey, Position] = field(default_factory=dict)

    def position(self, path: PathKey) -> Position:
        """Where `path` is, or its nearest ancestor that has a position."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), Position(self.file))

    def key_position(self, path: PathKey) -> Position:
        """Where the key of `path` is written (for unknown-key errors)."""
        return self.key_positions.get(tuple(path)) or self.position(path)


def read_yaml(path: Path, display_name: str | None = None) -> Source:
    """Load one YAML file; every problem is a DescriptorError naming file:line:col."""
    name = display_name or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DescriptorError([Problem(Position(name), f"cannot read: {exc.strerror or exc}")]) from None
    return parse_yaml(raw, name)


def parse_yaml(raw: bytes, name: str) -> Source:
    if len(raw) > MAX_FILE_BYTES:
        raise _fail(name, 1, 1, f"file is {len(raw):,} bytes; descriptors are limited to {MAX_FILE_BYTES:,}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise _fail(name, line, column, "file is not valid UTF-8") from None
    if "\x00" in text:
        offset = text.index("\x00")
        line = text.count("\n", 0, offset) + 1
        raise _fail(name, line, offset - (text.rfind("\n", 0, offset) + 1) + 1, "file contains a NUL byte")
    if text.startswith("\ufeff"):
        text = text[1:]

    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        documents = list(yaml.load_all(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = _yaml_message(exc)
        raise _fail(name, line, column, message) from None
    except YAMLError as exc:
        raise _fail(name, 1, 1, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise _fail(name, 1, 1, "document nests too deeply") from None

    documents = [d for d in documents if d is not None]
    if not documents:
        raise _fail(name, 1, 1, "file is empty; expected a descriptor (apiVersion: opgen/v1, kind: Service)")
    if len(documents) > 1:
        raise _fail(name, 1, 1, "file holds several YAML documents; put one service per file")

    source = Source(name, None)
    source.data = _plain(documents[0], (), source, [0], None)
    return source


def _plain(node: Any, path: PathKey, source: Source, budget: list[int], where: Position | None) -> Any:
    """Copy a ruamel node into plain Python data, recording positions; reject tags, bound size."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar

    budget[0] += 1
    if budget[0] > MAX_NODES:
        raise _fail(
            source.file,
            where.line if where else 1,
            where.column if where else 1,
            f"document expands to more than {MAX_NODES:,} values (YAML aliases?); descriptors are small",
        )
    if where is not None:
        source.positions[path] = where
    elif not path:
        source.positions[()] = Position(source.file)

    tag = getattr(node, "tag", None)
    tag_value = getattr(tag, "value", tag) if tag is not None else None
    if isinstance(node, TaggedScalar) or (isinstance(tag_value, str) and tag_value.startswith("!")):
        pos = where or Position(source.file)
        raise _fail(source.file, pos.line, pos.column, f"YAML tag {tag_value} is not allowed in a descriptor")

    if isinstance(node, CommentedMap):
        result = {}
        for key, value in node.items():
            if not isinstance(key, (str, int, float, bool)) or isinstance(key, bool):
                pos = where or Position(source.file)
                raise _fail(source.file, pos.line, pos.column, "mapping keys must be plain strings")
            key_line, key_col = node.lc.key(key)
            value_line, value_col = node.lc.value(key)
            key_path = path + (str(key),)
            source.key_positions[key_path] = Position(source.file, key_line + 1, key_col + 1)
            result[str(key)] = _plain(
                value, key_path, source, budget, Position(source.file, value_line + 1, value_col + 1)
            )
        return result
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            line, col = node.lc.item(index)
            items.append(_plain(value, path + (index,), source, budget, Position(source.file, line + 1, col + 1)))
        return items
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    pos = where or Position(source.file)
    raise _fail(source.file, pos.line, pos.column, f"unsupported YAML value of type {type(node).__name__}")


def _yaml_message(exc: Exception) -> str:
    parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    text = " ".join(str(p) for p in parts if p) or "cannot parse"
    return "invalid YAML: " + " ".join(text.split())


def _fail(file: str, line: int, column: int, message: str) -> DescriptorError:
    return DescriptorError([Problem(Position(file, line, column), message)])
