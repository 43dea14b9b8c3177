"""Keep-regions: the parts of generated files that belong to people.

A region is the lines between a start marker and an end marker, written by opgen in the comment
syntax of the file's language, each alone on its line at column 0:

    <!-- opgen:keep notes -->          # opgen:keep imports          // opgen:keep custom
    ...                                ...                           ...
    <!-- opgen:end -->                 # opgen:end                   // opgen:end

Sync carries each region's content into the regenerated file by name, and judges whether a file
was edited by hand with region contents blanked out: editing inside a region is not a conflict.

Markers are recognised only where opgen itself writes them, so that no descriptor text can form
one: in the file's own syntax (a Python-style marker in a Markdown page is text), at column 0
(descriptor text in YAML block scalars is indented; in Python and Go it sits inside escaped
one-line literals), and in Markdown never inside a fenced code block (PromQL quoted in a runbook
is raw text, so a marker-like line there is code). Inside a region only its end marker counts:
people's notes may hold anything else, an unclosed fence included.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

NAME = r"[A-Za-z0-9_.-]+"


@dataclass(frozen=True)
class Syntax:
    """How one kind of file writes its markers."""

    start: re.Pattern  # a start-marker line (without its line break); group 1 is the name
    end: re.Pattern
    fenced_code: bool = False  # Markdown: lines inside ``` / ~~~ fences are code, never markers


def _line_comment(prefix: str) -> Syntax:
    p = re.escape(prefix)
    return Syntax(re.compile(rf"{p} opgen:keep ({NAME})[ \t\r]*"), re.compile(rf"{p} opgen:end[ \t\r]*"))


MARKDOWN = Syntax(re.compile(rf"<!-- opgen:keep ({NAME}) -->[ \t\r]*"), re.compile(r"<!-- opgen:end -->[ \t\r]*"),
                  fenced_code=True)
HASH = _line_comment("#")
SLASHES = _line_comment("//")

# By file extension: only files opgen writes regions into have a syntax; in any other file
# (rules, dashboards, OpenSLO, Terraform) nothing is a region.
SYNTAXES = {".md": MARKDOWN, ".py": HASH, ".go": SLASHES, ".js": SLASHES, ".mjs": SLASHES, ".cjs": SLASHES,
            ".ts": SLASHES}

MARKER = "opgen:keep"  # every start marker holds it: a text without it has no region
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def syntax_for(path: str) -> Syntax | None:
    return SYNTAXES.get(posixpath.splitext(path)[1].lower())


@dataclass(frozen=True)
class Region:
    name: str
    start: int  # offset of the start marker line
    content_start: int  # offset just past the start marker line
    content_end: int  # offset of the end marker line
    end: int  # offset just past the end marker line


def _lines(text: str):
    """(offset, line without its "\\n") for each line; "\\n" is the only line break, as in git."""
    offset = 0
    for line in text.split("\n"):
        yield offset, line
        offset += len(line) + 1


def parse(text: str, path: str) -> list[Region]:
    """The regions of `text`, a file at `path`, in file order. A start marker without an end
    marker opens nothing (its line is left as it is)."""
    syntax = syntax_for(path)
    if syntax is None or MARKER not in text:
        return []
    found: list[Region] = []
    fence: tuple[str, int] | None = None  # (fence character, length) while inside a fenced code block
    opened: tuple[str, int, int] | None = None  # (name, marker offset, content offset)
    for offset, line in _lines(text):
        if opened is not None:
            if syntax.end.fullmatch(line):
                name, start, content_start = opened
                found.append(Region(name, start, content_start, offset, min(offset + len(line) + 1, len(text))))
                opened = None
            continue
        if syntax.fenced_code:
            if fence is not None:
                if re.fullmatch(rf" {{0,3}}{re.escape(fence[0])}{{{fence[1]},}}[ \t\r]*", line):
                    fence = None
                continue
            opening = _FENCE_OPEN.match(line)
            if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
                fence = (opening.group(1)[0], len(opening.group(1)))
                continue
        start = syntax.start.fullmatch(line)
        if start:
            opened = (start.group(1), offset, min(offset + len(line) + 1, len(text)))
    return found


def regions(text: str, path: str) -> dict[str, str]:
    """Region name -> its content (the lines between the markers), in file order; the first of two
    regions of one name wins (opgen writes each name once)."""
    found: dict[str, str] = {}
    for region in parse(text, path):
        found.setdefault(region.name, text[region.content_start:region.content_end])
    return found


def fill(text: str, contents: dict[str, str], path: str) -> tuple[str, dict[str, str]]:
    """`text` with its regions holding `contents`; also the non-empty contents it has no place for."""
    out, position, placed = [], 0, set()
    for region in parse(text, path):
        if region.name in contents and region.name not in placed:
            out.append(text[position:region.content_start])
            out.append(contents[region.name])
            placed.add(region.name)
            position = region.content_end
    out.append(text[position:])
    leftover = {k: v for k, v in contents.items() if k not in placed and v.strip()}
    return "".join(out), leftover


def blank(text: str, path: str) -> str:
    """`text` with every region emptied: what opgen itself is responsible for."""
    out, position = [], 0
    for region in parse(text, path):
        out.append(text[position:region.content_start])
        position = region.content_end
    out.append(text[position:])
    return "".join(out)


class MarkerError(Exception):
    """A rendered file whose regions are not exactly those its renderer declares: descriptor text
    formed a marker (a missing escape), or a template lost one. A bug, never something to write."""


def check_generated(text: str, path: str, declared: tuple[str, ...]) -> None:
    """The regions found in a freshly rendered file are `declared`, in order, and none holds a
    marker line of its own (which a stray start marker before it would have swallowed)."""
    syntax = syntax_for(path)
    found = parse(text, path)
    names = tuple(r.name for r in found)
    swallowed = syntax is not None and any(
        syntax.start.fullmatch(line) or syntax.end.fullmatch(line)
        for r in found for line in text[r.content_start:r.content_end].split("\n"))
    if names != declared or swallowed or (syntax is None and declared):
        raise MarkerError(f"{path}: rendered with keep-regions {list(names)}, declared {list(declared)}")
