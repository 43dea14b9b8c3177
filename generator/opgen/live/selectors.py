"""The series selectors inside PromQL, read with the PromQL parser and written back with opgen's own
quoting (the parser's printer drops escapes and milliseconds, so its text is never sent)."""

from __future__ import annotations

from dataclasses import dataclass

from opgen import promql

OPERATORS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, operator, value), in the order written

    def text(self, without: tuple[tuple[str, str, str], ...] = ()) -> str:
        """name{matchers}, leaving out the matchers in `without`."""
        kept = [promql.matcher(label, value, op) for label, op, value in self.matchers if (label, op, value) not in without]
        return promql.selector(self.name, *kept)

    def value_of(self, label: str) -> str | None:
        """The value an equality matcher gives `label`, if one does."""
        return next((v for name, op, v in self.matchers if name == label and op == "="), None)


def labels_match(labels: dict[str, str], matchers) -> bool:
    """Whether a series with `labels` matches `matchers`; a missing label reads as empty, as in Prometheus."""
    import re

    for label, op, value in matchers:
        actual = labels.get(label, "")
        hit = actual == value if op in ("=", "!=") else re.fullmatch(value, actual) is not None
        if hit != (op in ("=", "=~")):
            return False
    return True


def parse_matchers(text: str) -> tuple[tuple[str, str, str], ...]:
    """Matchers as opgen writes them (conventions), e.g. 'code!~"5..",error_type!=""', as tuples."""
    return selectors_in(f"x{{{text}}}")[0].matchers


def selectors_in(expr: str) -> list[Selector]:
    """Every vector selector in `expr` (those inside range selectors too), first occurrence first, once each."""
    import promql_parser

    found: list[Selector] = []

    def visit(node) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = []
            name = node.name
            for m in node.matchers.matchers:
                op = OPERATORS[str(m.op).rsplit(".", 1)[-1]]
                if m.name == "__name__" and op == "=" and name is None:  # {__name__="x"}
                    name = m.value
                else:
                    matchers.append((m.name, op, m.value))
            selector = Selector(name or "", tuple(matchers))
            if selector not in found:
                found.append(selector)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def shape(expr: str) -> tuple:
    """What `expr` computes, with spacing, brackets and the order of matchers left out: two
    expressions of one shape are the same query (Prometheus prints matchers sorted)."""
    import promql_parser

    parts: list = []

    def enter(node) -> None:
        kind = type(node).__name__
        if isinstance(node, promql_parser.ParenExpr):
            return
        if isinstance(node, promql_parser.VectorSelector):
            matchers = sorted((m.name, str(m.op), m.value) for m in node.matchers.matchers)
            parts.append((kind, node.name, tuple(matchers), str(node.offset), str(node.at)))
        elif isinstance(node, promql_parser.Call):
            parts.append((kind, node.func.name))
        elif isinstance(node, (promql_parser.NumberLiteral, promql_parser.StringLiteral)):
            parts.append((kind, node.val))
        else:
            parts.append((kind, *(str(getattr(node, a, "")) for a in ("op", "modifier", "param", "range", "step", "offset", "at"))))

    def leave(node) -> None:
        if not isinstance(node, promql_parser.ParenExpr):
            parts.append(")")

    promql_parser.walk(promql_parser.parse(expr), enter, leave)
    return tuple(parts)
