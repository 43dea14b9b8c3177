"""The field reference in docs/descriptor.md, generated from the spec declaration.

Regenerate: python -m opgen.descriptor.reference docs/descriptor.md
(the text between the BEGIN/END markers is replaced; a test fails when it is stale).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from opgen.descriptor.fields import Field, ListOf, Number, Object, String, Variants
from opgen.descriptor.spec import DESCRIPTOR

BEGIN = "<!-- BEGIN generated field reference: python -m opgen.descriptor.reference docs/descriptor.md -->"
END = "<!-- END generated field reference -->"


def field_reference() -> str:
    from opgen.descriptor.journey import JOURNEY

    sections: list[str] = []
    _object_section("(top level)", DESCRIPTOR, sections)
    _object_section("journey", JOURNEY, sections)  # a `kind: Journey` document (docs/fleet.md, "Journey SLOs")
    return "\n".join(sections)


def _object_section(title: str, obj: Object, sections: list[str]) -> None:
    rows = ["| field | type | required / default | description | example |", "| --- | --- | --- | --- | --- |"]
    nested: list[tuple[str, Object]] = []
    for f in obj.fields:
        path = f.name if title == "(top level)" else f"{title}.{f.name}"
        kind = f.kind.item if isinstance(f.kind, ListOf) else f.kind
        if isinstance(kind, Object):
            nested.append((path + ("[]" if isinstance(f.kind, ListOf) else ""), kind))
        elif isinstance(kind, Variants):
            for name, variant in kind.variants:
                nested.append((f"{path} (kind: {name})", variant))
        rows.append(f"| `{f.name}` | {_cell(_type(f))} | {_requirement(f)} | {_cell(f.doc)} | {_example(f)} |")
    heading = f"### `{title}`" if title != "(top level)" else "### Top level"
    sections.append(heading + ("\n\n" + _cell(obj.doc) if obj.doc else "") + "\n\n" + "\n".join(rows) + "\n")
    for path, child in nested:
        _object_section(path, child, sections)


def _type(f: Field) -> str:
    kind = f.kind
    if isinstance(kind, Number) and (kind.minimum is not None or kind.maximum is not None):
        return f"{kind.type_label}, {kind.range_text()}"
    if isinstance(kind, String) and kind.pattern_hint:
        return f"{kind.type_label}: {kind.pattern_hint}"
    return kind.type_label


def _requirement(f: Field) -> str:
    if f.required:
        return "required"
    if f.default_text:
        return f"default: `{f.default_text}`"
    if f.default not in (None, {}, []):
        return f"default: `{json.dumps(f.default)}`"
    return "optional"


def _example(f: Field) -> str:
    if f.example is None:
        return ""
    text = f.example if isinstance(f.example, str) else json.dumps(f.example)
    return "`" + text.replace("|", "\\|") + "`"


def _cell(text: str) -> str:
    return text.replace("\n", " ").replace("|", "\\|").replace("\\\\|", "\\|")


def update(doc: Path) -> bool:
    """Rewrite the generated part of `doc`; True when it changed."""
    text = doc.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:start] + "\n\n" + field_reference() + "\n" + text[end:]
    if new != text:
        doc.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(("updated " if update(Path(arg)) else "unchanged ") + arg)
