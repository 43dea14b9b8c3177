"""Read a YAML file into plain data plus the position of every value.

The rest of opgen works on plain dicts, lists and scalars; a `Positions` map
(path tuple -> Position) lets any later step point at the line and column a value came from.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opgen.errors import DescriptorError, FileError, Position, Problem
from opgen.paths import FileTooLarge, read_bytes

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
    return parse_yaml(read_source_bytes(path, name), name)


def read_source_bytes(path: Path, name: str) -> bytes:
    """A descriptor's bytes, read bounded: a FIFO, /dev/zero or a huge file is refused, not read forever."""
    try:
        found = read_bytes(path, MAX_FILE_BYTES)
    except FileTooLarge:
        raise _fail(name, 1, 1, f"file is larger than {MAX_FILE_BYTES:,} bytes; descriptors are limited to {MAX_FILE_BYTES:,}") from None
    except FileError as exc:
        raise DescriptorError([Problem(Position(name), str(exc))]) from None
    if found is None:
        raise DescriptorError([Problem(Position(name), "cannot read: No such file or directory")])
    return found[0]


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
        mark = _best_mark(exc)
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise _fail(name, line, column, _yaml_message(exc)) from None
    except YAMLError as exc:
        raise _fail(name, 1, 1, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise _fail(name, 1, 1, "document nests too deeply") from None
    except ValueError as exc:  # Python refuses to convert an integer of thousands of digits
        huge = re.search(r"[0-9][0-9_]{999,}", text)
        if huge is None:
            raise _fail(name, 1, 1, f"invalid YAML: {exc}") from None
        line = text.count("\n", 0, huge.start()) + 1
        column = huge.start() - (text.rfind("\n", 0, huge.start()) + 1) + 1
        raise _fail(name, line, column, f"a number of {len(huge.group()):,} digits; no value opgen reads is that large") from None

    documents = [d for d in documents if d is not None]
    if not documents:
        raise _fail(name, 1, 1, "file is empty; expected a descriptor (apiVersion: opgen/v1, kind: Service)")
    if len(documents) > 1:
        line = _document_start_line(text, documents[1])
        raise _fail(name, line, 1, "file holds several YAML documents; put one service per file")

    source = Source(name, None)
    root = _node_position(name, documents[0]) or _first_content(name, text)
    source.data = _Walker(source).plain(documents[0], (), root, None)
    return source


class _Walker:
    """Copies ruamel nodes into plain data, recording positions; rejects tags; bounds the size.

    An alias is the same Python object as its anchor, and ruamel reports the anchor's position
    for it; values reached through an alias are placed where the alias is used instead."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.count = 0
        self.seen: set[int] = set()

    def plain(self, node: Any, path: PathKey, where: Position, alias_at: Position | None) -> Any:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar

        where = alias_at or where
        self.count += 1
        if self.count > MAX_NODES:
            raise _fail(self.source.file, where.line, where.column,
                        f"document expands to more than {MAX_NODES:,} values (YAML aliases?); descriptors are small")
        self.source.positions[path] = where

        tag = getattr(node, "tag", None)
        tag_value = getattr(tag, "value", tag)
        if isinstance(node, TaggedScalar) or tag_value is not None:
            raise _fail(self.source.file, where.line, where.column,
                        f"YAML tag {tag_value} is not allowed in a descriptor")

        if isinstance(node, (CommentedMap, CommentedSeq)):
            if id(node) in self.seen and alias_at is None:
                alias_at = where
            self.seen.add(id(node))
        if isinstance(node, CommentedMap):
            result = {}
            for key, value in node.items():
                if not isinstance(key, (str, int, float)) or isinstance(key, bool):
                    raise _fail(self.source.file, where.line, where.column, "mapping keys must be plain strings")
                key_path = path + (str(key),)
                key_at = alias_at or _mark(self.source.file, node, key, "key") or where
                self.source.key_positions[key_path] = key_at
                if value is None or id(value) in self.seen:
                    value_at = key_at  # an empty value, or an alias: point at its key
                else:
                    value_at = _mark(self.source.file, node, key, "value") or key_at
                result[str(key)] = self.plain(value, key_path, value_at, alias_at)
            return result
        if isinstance(node, CommentedSeq):
            items = []
            for index, value in enumerate(node):
                line, col = node.lc.item(index)
                item_at = where if id(value) in self.seen else Position(self.source.file, line + 1, col + 1)
                items.append(self.plain(value, path + (index,), item_at, alias_at))
            return items
        if isinstance(node, bool) or node is None:
            return node
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        if isinstance(node, str):
            return str(node)
        if type(node) is datetime.date:  # an unquoted 2026-12-24: the text the user wrote
            return node.isoformat()
        raise _fail(self.source.file, where.line, where.column, f"unsupported YAML value of type {type(node).__name__}")


def _mark(file: str, node: Any, key: Any, which: str) -> Position | None:
    """Where a key (or its value) is written: in this mapping, or in one merged into it with `<<:`."""
    try:
        line, col = node.lc.key(key) if which == "key" else node.lc.value(key)
        return Position(file, line + 1, col + 1)
    except (KeyError, TypeError):
        for item in getattr(node, "merge", []):
            merged = item[1] if isinstance(item, tuple) else item  # (index, map) in older ruamel
            found = _mark(file, merged, key, which)
            if found:
                return found
    return None


def _node_position(file: str, node: Any) -> Position | None:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return None
    return Position(file, lc.line + 1, lc.col + 1)


def _first_content(file: str, text: str) -> Position:
    """The first line that is neither blank nor a comment nor a document marker."""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "---", "%")):
            return Position(file, number, len(line) - len(line.lstrip()) + 1)
    return Position(file)


def _document_start_line(text: str, document: Any) -> int:
    """The `---` line that starts `document` (or its first line)."""
    lines = text.splitlines()
    lc = getattr(document, "lc", None)
    first = lc.line if lc is not None and lc.line is not None else len(lines) - 1
    for index in range(min(first, len(lines) - 1), -1, -1):
        if lines[index].startswith("---"):
            return index + 1
    return first + 1


def _best_mark(exc: Exception):
    """Where to point: at the bracket or quote never closed, else where parsing failed."""
    context = str(getattr(exc, "context", "") or "")
    if getattr(exc, "context_mark", None) and context.startswith(("while parsing a flow", "while scanning a quoted")):
        return exc.context_mark
    return getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)


def _yaml_message(exc: Exception) -> str:
    if "found character '\\t'" in str(getattr(exc, "problem", "")):
        return ("invalid YAML: a tab character; YAML indents with spaces only, so replace the tab at the start of "
                "this line (or before this value) with spaces")
    parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    text = " ".join(" ".join(str(p) for p in parts if p).split()) or "cannot parse"
    if "expected <block end>" in text or "mapping values are not allowed here" in text:
        text += " (check the indentation of this line and the one before)"
    return "invalid YAML: " + text


def _fail(file: str, line: int, column: int, message: str) -> DescriptorError:
    return DescriptorError([Problem(Position(file, line, column), message)])
