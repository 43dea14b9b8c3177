"""A small declarative schema: one declaration per field gives validation with positions,
defaults, the published JSON Schema and the reference table in docs/descriptor.md.

Each kind validates a plain value (from `source.Source`) and reports problems at the value's
position; it returns the value with defaults filled in, or INVALID.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from opgen.errors import Problem
from opgen.descriptor.source import PathKey, Source

INVALID = object()


class Context:
    """Collects problems while validating one source."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []  # worth knowing, not fatal

    def error(self, path: PathKey, message: str, at_key: bool = False) -> None:
        pos = self.source.key_position(path) if at_key else self.source.position(path)
        self.problems.append(Problem(pos, message))

    def warn(self, path: PathKey, message: str) -> None:
        self.warnings.append(Problem(self.source.position(path), message))


def _where(path: PathKey) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "the document"


def _shorten(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class Kind:
    type_label = "value"

    def validate(self, value: Any, path: PathKey, ctx: Context) -> Any:
        raise NotImplementedError

    def json_schema(self) -> dict:
        raise NotImplementedError


@dataclass(frozen=True)
class String(Kind):
    pattern: str | None = None
    pattern_hint: str = ""
    max_length: int = 1000
    check: Callable[[str], str | None] | None = None  # returns a problem text or None
    json_format: str | None = None
    type_label: str = "string"

    def validate(self, value, path, ctx):
        if not isinstance(value, str):
            ctx.error(path, f"{_where(path)} must be a string, not {_type_name(value)}")
            return INVALID
        control = next((ch for ch in value if (ord(ch) < 32 and ch not in "\n\r\t") or 127 <= ord(ch) < 160), None)
        if control is not None:
            ctx.error(path, f"{_where(path)} contains the control character U+{ord(control):04X}; use plain text")
            return INVALID
        if len(value) > self.max_length:
            ctx.error(path, f"{_where(path)} is {len(value)} characters long; the limit is {self.max_length}")
            return INVALID
        if self.pattern and not re.fullmatch(self.pattern, value):
            ctx.error(path, f"{_where(path)} {_shorten(value)} is not valid: {self.pattern_hint or 'must match ' + self.pattern}")
            return INVALID
        if self.check:
            problem = self.check(value)
            if problem:
                ctx.error(path, f"{_where(path)} {_shorten(value)} {problem}")
                return INVALID
        return value

    def json_schema(self):
        schema: dict[str, Any] = {"type": "string", "maxLength": self.max_length}
        if self.pattern:
            schema["pattern"] = f"^(?:{self.pattern})$"
        if self.json_format:
            schema["format"] = self.json_format
        return schema


@dataclass(frozen=True)
class Number(Kind):
    """A number; `integer` refuses fractions. Bounds are inclusive unless `exclusive`."""

    minimum: float | None = None
    maximum: float | None = None
    exclusive: bool = False
    integer: bool = False

    @property
    def type_label(self) -> str:
        return "integer" if self.integer else "number"

    def validate(self, value, path, ctx):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            ctx.error(path, f"{_where(path)} must be {'an integer' if self.integer else 'a number'}, not {_type_name(value)}")
            return INVALID
        if self.integer and not isinstance(value, int):
            ctx.error(path, f"{_where(path)} must be a whole number, not {value}")
            return INVALID
        if value != value or value in (float("inf"), float("-inf")):
            ctx.error(path, f"{_where(path)} must be a finite number")
            return INVALID
        low_bad = self.minimum is not None and (value <= self.minimum if self.exclusive else value < self.minimum)
        high_bad = self.maximum is not None and (value >= self.maximum if self.exclusive else value > self.maximum)
        if low_bad or high_bad:
            shown = value if len(repr(value)) <= 24 else f"a number of {len(repr(value)):,} characters"
            ctx.error(path, f"{_where(path)} is {shown}; it must be {self.range_text()}")
            return INVALID
        return value

    def range_text(self) -> str:
        low, high = _num(self.minimum), _num(self.maximum)
        if self.minimum is not None and self.maximum is not None:
            return f"between {low} and {high}" + (" (both excluded)" if self.exclusive else "")
        if self.minimum is not None:
            return f"greater than {low}" if self.exclusive else f"at least {low}"
        return f"less than {high}" if self.exclusive else f"at most {high}"

    def json_schema(self):
        schema: dict[str, Any] = {"type": "integer" if self.integer else "number"}
        if self.minimum is not None:
            schema["exclusiveMinimum" if self.exclusive else "minimum"] = self.minimum
        if self.maximum is not None:
            schema["exclusiveMaximum" if self.exclusive else "maximum"] = self.maximum
        return schema


@dataclass(frozen=True)
class Percentage(Number):
    """A percentage written as a number (99.9). "99.9%", which YAML reads as a string, is taken
    with a warning: the value is plain, and --strict refuses it for CI."""

    def validate(self, value, path, ctx):
        if isinstance(value, str) and re.fullmatch(r"\s*\d+(?:\.\d+)?\s*%\s*", value):
            number = value.strip().rstrip("%").strip()
            ctx.warn(path, f"{_where(path)} is the string {value!r}; write {number}, without the %: it is a percentage already")
            value = float(number) if "." in number else int(number)
        return super().validate(value, path, ctx)


def _num(value: float | None) -> str:
    return str(int(value)) if value is not None and float(value).is_integer() else str(value)


@dataclass(frozen=True)
class Boolean(Kind):
    type_label: str = "boolean"

    def validate(self, value, path, ctx):
        if not isinstance(value, bool):
            ctx.error(path, f"{_where(path)} must be true or false, not {_type_name(value)}")
            return INVALID
        return value

    def json_schema(self):
        return {"type": "boolean"}


@dataclass(frozen=True)
class Choice(Kind):
    choices: tuple[str, ...] = ()

    @property
    def type_label(self) -> str:
        return " \\| ".join(self.choices)

    def validate(self, value, path, ctx):
        if value not in self.choices or not isinstance(value, str):
            hint = _did_you_mean(str(value), self.choices)
            ctx.error(path, f"{_where(path)} is {value!r}; expected one of {', '.join(self.choices)}{hint}")
            return INVALID
        return value

    def json_schema(self):
        return {"enum": list(self.choices)}


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    doc: str
    required: bool = False
    default: Any = None  # filled in when the key is absent (None: stays absent)
    default_text: str = ""  # for docs when the default is computed elsewhere
    example: Any = None


@dataclass(frozen=True)
class Object(Kind):
    fields: tuple[Field, ...] = ()
    doc: str = ""
    type_label: str = "mapping"

    def field_named(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def validate(self, value, path, ctx):
        if not isinstance(value, dict):
            ctx.error(path, f"{_where(path)} must be a mapping, not {_type_name(value)}")
            return INVALID
        names = [f.name for f in self.fields]
        result: dict[str, Any] = {}
        ok = True
        for key in value:
            if key not in names:
                ctx.error(path + (key,), f"unknown field {_where(path + (key,))}{_did_you_mean(key, names)}", at_key=True)
                ok = False
        for f in self.fields:
            if f.name in value:
                checked = f.kind.validate(value[f.name], path + (f.name,), ctx)
                ok = ok and checked is not INVALID
                result[f.name] = checked
            elif f.required:
                ctx.error(path, f"{_where(path + (f.name,))} is required: {f.doc}", at_key=True)
                ok = False
            elif f.default is not None:
                result[f.name] = f.kind.validate(f.default, path + (f.name,), ctx) if isinstance(f.kind, Object) else f.default
        return result if ok else INVALID

    def json_schema(self):
        schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {}}
        if self.doc:
            schema["description"] = self.doc
        for f in self.fields:
            prop = dict(f.kind.json_schema())
            prop["description"] = f.doc
            if f.default is not None and not isinstance(f.kind, Object):
                prop["default"] = f.default
            if f.example is not None:
                prop["examples"] = [f.example]
            schema["properties"][f.name] = prop
        required = [f.name for f in self.fields if f.required]
        if required:
            schema["required"] = required
        return schema


@dataclass(frozen=True)
class ListOf(Kind):
    item: Kind = field(default_factory=lambda: String())
    unique_by: str | None = None  # a field of the items whose values must not repeat
    max_items: int = 100

    @property
    def type_label(self) -> str:
        return f"list of {self.item.type_label}"

    def validate(self, value, path, ctx):
        if not isinstance(value, list):
            ctx.error(path, f"{_where(path)} must be a list, not {_type_name(value)}")
            return INVALID
        if len(value) > self.max_items:
            ctx.error(path, f"{_where(path)} has {len(value)} entries; the limit is {self.max_items}")
            return INVALID
        items = [self.item.validate(v, path + (i,), ctx) for i, v in enumerate(value)]
        ok = all(i is not INVALID for i in items)
        if self.unique_by:
            seen: dict[Any, int] = {}
            for index, item in enumerate(value):
                key = item.get(self.unique_by) if isinstance(item, dict) else None
                if key is None:
                    continue
                if key in seen:
                    first = ctx.source.position(path + (seen[key], self.unique_by))
                    ctx.error(
                        path + (index, self.unique_by),
                        f"duplicate {self.unique_by} {key!r} in {_where(path)} (first at line {first.line})",
                    )
                    ok = False
                else:
                    seen[key] = index
        return items if ok else INVALID

    def json_schema(self):
        return {"type": "array", "items": self.item.json_schema(), "maxItems": self.max_items}


@dataclass(frozen=True)
class Variants(Kind):
    """A mapping whose `key` field (for example `kind`) picks which Object describes the rest."""

    key: str = "kind"
    variants: tuple[tuple[str, Object], ...] = ()
    type_label: str = "mapping"

    def validate(self, value, path, ctx):
        if not isinstance(value, dict):
            ctx.error(path, f"{_where(path)} must be a mapping, not {_type_name(value)}")
            return INVALID
        names = [name for name, _ in self.variants]
        if self.key not in value:
            ctx.error(path, f"{_where(path + (self.key,))} is required: one of {', '.join(names)}", at_key=True)
            return INVALID
        chosen = dict(self.variants).get(value[self.key]) if isinstance(value[self.key], str) else None
        if chosen is None:
            hint = _did_you_mean(str(value[self.key]), names)
            ctx.error(path + (self.key,), f"{_where(path + (self.key,))} is {value[self.key]!r}; expected one of {', '.join(names)}{hint}")
            return INVALID
        return chosen.validate(value, path, ctx)

    def json_schema(self):
        return {
            "type": "object",
            "required": [self.key],
            "oneOf": [obj.json_schema() for _, obj in self.variants],
        }


def const_field(name: str, value: str, doc: str) -> Field:
    return Field(name, Choice((value,)), doc, required=True, example=value)


def _did_you_mean(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_value(kind: Kind, value: Any, where: str) -> str | None:
    """Validate one value outside a file (a prompt answer, a flag); the first problem's text, or None."""
    ctx = Context(Source(where, value))
    kind.validate(value, (), ctx)
    return ctx.problems[0].message.replace("the document ", "", 1) if ctx.problems else None
