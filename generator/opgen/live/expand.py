"""Alert expressions with every recording rule they read replaced by the expression it records, so a
range query over the raw series evaluates an alert as if its rules had been loaded all along.

Works on whatever rule groups the renderer returns, as data: a reference `record{matchers}` to
recording rules of those groups becomes what each matching rule records, with the rule's labels
added as the rule would add them (label_replace); `record{...}[30d]` becomes a subquery of it at
the group's evaluation interval, `(…)[30d:1m]`, which is what a range over recorded samples reads;
`absent(record{...})` keeps the labels absent() takes from the selector. Recordings that read
recordings are expanded first. Only the references are rewritten: the rest of the text is the
rule's own (the PromQL parser finds and counts the references; its printer is never used).

`ALERTS{...}` becomes what the alerts evaluated before would have written (the caller says what:
live.backtest). A recording that reads its own past (a latch, such as "when the recorded history
began": the minimum of its own values over a day, else now) is taken as if it had been running
for `horizon`, the longest range the rules read: its past values are what it records with no
memory (its reads of itself give nothing), over that span.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from opgen import promql
from opgen.live.selectors import labels_match, selectors_in


class CannotExpand(ValueError):
    """A rule reads recordings in a form that cannot be rewritten faithfully."""


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str
    labels: tuple[tuple[str, str], ...]
    interval: str  # its group's evaluation interval, as PromQL writes durations


_TOKEN = re.compile(r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<comment>\#[^\n]*)
  | (?P<number>(?:0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[a-zA-Z0-9_]*)
  | (?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<space>\s+)
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = LABEL_LIST_KEYWORDS | {"offset", "bool", "and", "or", "unless", "atan2", "start", "end", "inf", "nan"}
ABSENT_FUNCTIONS = {"absent", "absent_over_time"}
NOTHING = "(vector(0) > 1)"  # an instant vector without series: a rule's past before it ran
ALERTS_SERIES = {"ALERTS", "ALERTS_FOR_STATE"}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    start: int
    end: int


class Expander:
    def __init__(self, recordings: list[Recording], horizon: str = "30d", alerts=None) -> None:
        self.by_name: dict[str, list[Recording]] = {}
        for recording in recordings:
            self.by_name.setdefault(recording.record, []).append(recording)
        self.horizon = horizon  # how long a recording that reads its own past is taken to have run
        self.expanded: dict[tuple, str] = {}
        self.in_progress: set[Recording] = set()
        self.forgetting: set[Recording] = set()  # recordings whose reads of themselves give nothing
        self.alerts = alerts  # ALERTS{...} -> what the alerts evaluated so far would have written, if given

    def expand(self, expr: str) -> str:
        """`expr` reading only raw series (and recordings of no rule given)."""
        names = _all_selector_names(expr)
        if "ALERTS_FOR_STATE" in names or ("ALERTS" in names and self.alerts is None):
            raise CannotExpand("it reads ALERTS, which holds the live alerts, not the ones of the past")
        tokens = [t for t in _tokens(expr) if t.kind not in ("space", "comment")]
        spans: list[tuple[int, int, str]] = []
        references = 0
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token.kind == "name" and token.text in LABEL_LIST_KEYWORDS and _is(tokens, i + 1, "("):
                i = _closing(tokens, i + 1, "(", ")") + 1
                continue
            if token.text == "{":  # a selector without a name: its names are labels
                i = _closing(tokens, i, "{", "}") + 1
                continue
            if token.kind != "name" or token.text in KEYWORDS or _is(tokens, i + 1, "("):
                i += 1
                continue
            end = _closing(tokens, i + 1, "{", "}") if _is(tokens, i + 1, "{") else i
            selector_text = expr[token.start:tokens[end].end]
            after = end + 1
            range_text = None
            if _is(tokens, after, "["):
                close = _closing(tokens, after, "[", "]")
                range_text = expr[tokens[after].end:tokens[close].start].strip()
                after = close + 1
            if token.text == "ALERTS":
                if range_text is not None or _is(tokens, after, "offset") or _is(tokens, after, "@"):
                    raise CannotExpand(f"it reads {selector_text} over a range or with offset or @")
                spans.append((token.start, tokens[after - 1].end, self.alerts(selectors_in(selector_text)[0])))
            elif token.text in self.by_name:
                references += 1
                if _is(tokens, after, "offset") or _is(tokens, after, "@"):
                    raise CannotExpand(f"it reads {selector_text} with offset or @, which backtest cannot shift")
                replacement = self._replacement(selector_text, range_text, tokens, i, after)
                if replacement is not None:
                    spans.append(replacement)
            i = after
        if references != sum(1 for name in names if name in self.by_name):
            raise CannotExpand("it reads a recording through {__name__=...}, which backtest cannot expand")
        text = expr
        for start, end, replacement in sorted(spans, reverse=True):
            text = text[:start] + replacement + text[end:]
        return text

    def _replacement(self, selector_text: str, range_text: str | None, tokens: list[_Token], first: int, after: int):
        """(start, end, text) to put in place of the reference, tokens[first:after] (with its range)."""
        selector = selectors_in(selector_text)[0]
        matching = [r for r in self.by_name[selector.name] if _matches(r, selector.matchers)]
        if not matching:
            return None  # another service's recording: read as it is
        intervals = {r.interval for r in matching}
        if range_text is not None and len(intervals) > 1:
            raise CannotExpand(f"{selector_text} is recorded by groups with different intervals")
        resolution = "" if range_text is None or ":" in range_text else ":" + intervals.pop()
        past = [r for r in matching if r in self.in_progress]
        if past:  # a rule reading its own past
            if len(matching) > 1:
                raise CannotExpand(f"{selector_text} reads its own rule's past together with other recordings")
            recording = past[0]
            if recording in self.forgetting:
                text, span = NOTHING, range_text
            else:
                text, span = self._without_memory(recording), self.horizon if range_text is not None else None
        else:
            alternatives = [self._with_labels(r) for r in matching]
            text = alternatives[0] if len(alternatives) == 1 else "(" + " or ".join(alternatives) + ")"
            span = range_text
        if span is not None:
            text = f"({text})[{span}{resolution}]"
        # absent(record{a="b"}) answers {a="b"}; absent(<expression>) answers {}: put the labels back.
        if first >= 2 and tokens[first - 2].text in ABSENT_FUNCTIONS and _is(tokens, first - 1, "(") and _is(tokens, after, ")"):
            call = f"{tokens[first - 2].text}({text})"
            for label, op, value in selector.matchers:
                if op == "=":
                    call = label_replace(call, label, value)
            return tokens[first - 2].start, tokens[after].end, call
        return tokens[first].start, tokens[after - 1].end, text

    def _with_labels(self, recording: Recording) -> str:
        """What the rule records, with its labels as the rule sets them."""
        key = (recording, frozenset(self.forgetting))
        if key not in self.expanded:
            outer = recording in self.in_progress  # expanded again inside itself, without memory
            self.in_progress.add(recording)
            text = f"({self.expand(recording.expr)})"
            if not outer:
                self.in_progress.discard(recording)
            for label, value in recording.labels:
                text = label_replace(text, label, value)
            self.expanded[key] = text
        return self.expanded[key]

    def _without_memory(self, recording: Recording) -> str:
        """What the rule records when its reads of its own past give nothing."""
        self.forgetting.add(recording)
        try:
            return self._with_labels(recording)
        finally:
            self.forgetting.discard(recording)


def label_replace(expr: str, label: str, value: str) -> str:
    """`expr` with `label` set to `value` on every series (an empty regex matches the empty source)."""
    return f"label_replace({expr}, {promql.quote(label)}, {promql.quote(value.replace('$', '$$'))}, \"\", \"\")"


def _matches(recording: Recording, matchers) -> bool:
    """Whether the series `recording` records match `matchers`, decided by the rule's own labels."""
    labels = dict(recording.labels)
    if not labels_match(labels, [m for m in matchers if m[0] in labels]):
        return False
    undecided = [label for label, _, _ in matchers if label not in labels]
    if undecided:
        raise CannotExpand(f"a selector of {recording.record} matches on {', '.join(undecided)}, "
                           "which its rule's labels do not set")
    return True


def _tokens(expr: str):
    for match in _TOKEN.finditer(expr):
        yield _Token(match.lastgroup, match.group(), match.start(), match.end())


def _is(tokens: list[_Token], index: int, text: str) -> bool:
    return index < len(tokens) and tokens[index].text == text


def _closing(tokens: list[_Token], index: int, opening: str, closing: str) -> int:
    depth = 0
    for j in range(index, len(tokens)):
        if tokens[j].text == opening:
            depth += 1
        elif tokens[j].text == closing:
            depth -= 1
            if depth == 0:
                return j
    raise CannotExpand(f"unbalanced {opening}{closing}")


def _all_selector_names(expr: str) -> list[str]:
    """The metric name of every vector selector, counted once per occurrence."""
    import promql_parser

    names: list[str] = []

    def visit(node) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            name = node.name or next((m.value for m in node.matchers.matchers if m.name == "__name__"), "")
            names.append(name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def longest_range(exprs) -> float:
    """Seconds of the longest range or subquery any of `exprs` reads (0 when none does)."""
    import promql_parser

    longest = 0.0

    def visit(node) -> None:
        nonlocal longest
        if isinstance(node, (promql_parser.MatrixSelector, promql_parser.SubqueryExpr)):
            longest = max(longest, node.range.total_seconds())

    for expr in exprs:
        promql_parser.walk(promql_parser.parse(expr), visit)
    return longest
