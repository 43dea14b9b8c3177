"""Serialize data to YAML: deterministic, block style, multi-line strings as literal blocks.

The bytes are those of ruamel.yaml's round-trip dumper (indent 2, sequences 4 with offset 2,
width 4096), which is the reference. ruamel's pure-Python emitter costs about 13 ms per rule
file, most of a service's render time, so plain data (dicts, lists, strings, numbers) goes
through a small emitter here instead. It writes plain scalars itself only where ruamel's own
analysis (`Emitter.analyze_scalar`, block context) would write them plain and the YAML 1.2
resolver reads them back as strings; every other scalar is formatted once by ruamel and
remembered; any shape it does not know (top-level lists, lists in lists, tricky literal blocks)
goes to ruamel whole. tests/test_yaml_output.py checks the two agree byte for byte.
"""

from __future__ import annotations

import io
import re
from typing import Any

# A plain scalar ruamel would write as is and that reads back as a string: an ordinary first
# character (no indicator, digit, sign, dot or quote, so no number, date, alias or tag), printable
# ASCII, no ": " or " #" (a mapping value, a comment), no trailing space or colon.
_PLAIN = re.compile(r"[A-Za-z_/(\\$^][\x20-\x7e]*")
# Quoted without escapes or folding: printable ASCII, not too long to fold at width 4096.
_QUOTABLE = re.compile(r"[\x20-\x7e]{1,1000}")
_LITERAL_TEXT = re.compile(r"[\x20-\x7e\n]*")
# YAML reads these as line breaks too, and ruamel writes them raw in `|` blocks and single quotes,
# where they end a line the text does not: text holding one is written double-quoted, escaped.
_OTHER_LINE_BREAKS = re.compile("[\r\x85\u2028\u2029]")
# What a `|` block can hold as it is: YAML's printable characters, tab and newline, but the other breaks and a BOM.
_LITERAL_BLOCK_TEXT = re.compile("[\t\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]*")
_NOT_STRINGS = frozenset({"true", "false", "null", "yes", "no", "on", "off", "y", "n"})


class _Unsupported(Exception):
    """A shape the fast emitter leaves to ruamel."""


def _is_plain(text: str) -> bool:
    return (
        _PLAIN.fullmatch(text) is not None
        and ": " not in text
        and " #" not in text
        and text[-1] not in " :"
        and text.lower() not in _NOT_STRINGS
    )


def _cannot_be_plain(text: str) -> bool:
    """True where ruamel's analysis forbids a plain scalar in block context (the converse is not claimed)."""
    return text[0] in "#,[]{}&*!|>'\"%@` " or text[-1] in " :" or ": " in text or " #" in text


_scalars: dict[tuple[type, str], str] = {}


def _scalar(value: Any) -> str:
    """A one-line scalar as it follows `key: ` or `- `; the empty string for null."""
    kind = type(value)
    if kind is str:
        if _is_plain(value):
            return value
        if _QUOTABLE.fullmatch(value) and _cannot_be_plain(value):
            # ruamel's choice for one line of printable ASCII that cannot be plain: single quotes,
            # or double quotes when the text holds a single quote.
            if "'" in value:
                return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            return "'" + value + "'"
    elif kind is bool:
        return "true" if value else "false"
    elif kind is int:
        return str(value)
    elif kind is not float and value is not None:
        raise _Unsupported(type(value).__name__)
    key = (type(value), repr(value))
    text = _scalars.get(key)
    if text is None:
        dumped = _ruamel_dump({"k": value})
        if not dumped.startswith("k:") or dumped.count("\n") != 1:
            raise _Unsupported("multi-line scalar")
        text = dumped[2:-1].lstrip(" ")
        if len(_scalars) < 100_000:
            _scalars[key] = text
    return text


def _literal_lines(text: str) -> list[str] | None:
    """The lines of a `|` block ruamel writes without indentation or chomping hints, else None."""
    if text[0] in " \n" or text.endswith("\n\n") or " \n" in text:
        return None
    if not _LITERAL_TEXT.fullmatch(text):
        return None
    return text[:-1].split("\n")


def _emit_value(out: list[str], prefix: str, value: Any, indent: int) -> None:
    """`prefix` is the text before the value on its line (`key:` or `- `...); block children at `indent`."""
    kind = type(value)
    if kind is dict:
        if not value:
            out.append(prefix + " {}\n")
            return
        out.append(prefix + "\n")
        _emit_mapping(out, value, indent, first_prefix=" " * indent)
    elif kind is list:
        if not value:
            out.append(prefix + " []\n")
            return
        out.append(prefix + "\n")
        _emit_sequence(out, value, indent)
    elif kind is str and "\n" in value:
        text = value if value.endswith("\n") else value + "\n"
        lines = _literal_lines(text)
        if lines is None:
            raise _Unsupported("literal block with hints")
        out.append(prefix + " |\n")
        pad = " " * indent
        out.extend(pad + line + "\n" if line else "\n" for line in lines)
    else:
        text = _scalar(value)
        out.append(prefix + (" " + text if text else "") + "\n")


def _emit_mapping(out: list[str], mapping: dict, indent: int, first_prefix: str) -> None:
    prefix = first_prefix
    pad = " " * indent
    for key, value in mapping.items():
        if type(key) is not str or not _is_plain(key) or len(key) >= 128:
            raise _Unsupported("key")
        _emit_value(out, prefix + key + ":", value, indent + 2)
        prefix = pad


def _emit_sequence(out: list[str], items: list, indent: int) -> None:
    dash = " " * indent + "- "
    for item in items:
        kind = type(item)
        if kind is dict and item:
            _emit_mapping(out, item, indent + 2, first_prefix=dash)
        elif kind is list or (kind is str and "\n" in item):
            raise _Unsupported("list or literal block in a list")
        else:
            text = "{}" if kind is dict else _scalar(item)
            if not text:
                raise _Unsupported("null in a list")
            out.append(dash + text + "\n")


def _fast_dump(data: Any) -> str:
    if type(data) is not dict or not data:
        raise _Unsupported("top level")
    out: list[str] = []
    _emit_mapping(out, data, 0, first_prefix="")
    return "".join(out)


def _ruamel_dump(data: Any) -> str:
    from ruamel.yaml import YAML
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

    def literal_blocks(value: Any) -> Any:
        if isinstance(value, dict):
            return {DoubleQuotedScalarString(k) if isinstance(k, str) and _OTHER_LINE_BREAKS.search(k) else k: literal_blocks(v)
                    for k, v in value.items()}
        if isinstance(value, list):
            return [literal_blocks(v) for v in value]
        if isinstance(value, str) and "\n" in value and _LITERAL_BLOCK_TEXT.fullmatch(value):
            return LiteralScalarString(value if value.endswith("\n") else value + "\n")
        if isinstance(value, str) and _OTHER_LINE_BREAKS.search(value):
            return DoubleQuotedScalarString(value)  # ruamel may write these raw in single quotes
        return value

    yaml = YAML(typ="rt", pure=True)
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    yaml.dump(literal_blocks(data), buffer)
    return buffer.getvalue()


def dump_yaml(data: Any, header: str = "") -> str:
    try:
        return header + _fast_dump(data)
    except _Unsupported:
        return header + _ruamel_dump(data)
