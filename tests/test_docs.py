"""The descriptor reference in docs/ is generated from the spec declaration and must be current."""

from pathlib import Path

from opgen.descriptor.reference import BEGIN, END, field_reference

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_descriptor_reference_is_current():
    text = (DOCS / "descriptor.md").read_text()
    generated = text[text.index(BEGIN) + len(BEGIN): text.index(END)]
    assert generated.strip() == field_reference().strip(), "run: python -m opgen.descriptor.reference docs/descriptor.md"


def test_every_declared_field_is_documented():
    from opgen.descriptor.spec import DESCRIPTOR
    from opgen.descriptor.fields import ListOf, Object, Variants

    def names(obj):
        for f in obj.fields:
            yield f.name
            kind = f.kind.item if isinstance(f.kind, ListOf) else f.kind
            if isinstance(kind, Object):
                yield from names(kind)
            elif isinstance(kind, Variants):
                for _, variant in kind.variants:
                    yield from names(variant)

    reference = field_reference()
    assert all(f"| `{name}` |" in reference for name in names(DESCRIPTOR))
