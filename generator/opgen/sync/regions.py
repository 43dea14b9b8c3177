"""Keep-regions: the parts of generated files that belong to people.

A region is the lines between a start marker and an end marker, in the comment syntax of the file:

    <!-- opgen:keep notes -->          # opgen:keep imports          // opgen:keep custom
    ...                                ...                           ...
    <!-- opgen:end -->                 # opgen:end                   // opgen:end

Sync carries each region's content into the regenerated file by name, and judges whether a file
was edited by hand with region contents blanked out: editing inside a region is not a conflict.
"""

from __future__ import annotations

import re

_START = re.compile(r"^\s*(?:<!--\s*opgen:keep\s+([A-Za-z0-9_.-]+)\s*-->|(?:#|//)\s*opgen:keep\s+([A-Za-z0-9_.-]+))\s*$")
_END = re.compile(r"^\s*(?:<!--\s*opgen:end\s*-->|(?:#|//)\s*opgen:end)\s*$")


MARKER = "opgen:keep"  # every start marker holds it: a text without it has no region
# Lines that may be markers; the two patterns above decide. Used only where "\n" is the one line
# break (str.splitlines also breaks at \r, \v, \f, \x1c-\x1e, \x85, \u2028, \u2029).
_CANDIDATE = re.compile(r"^.*opgen:(?:keep|end).*$", re.MULTILINE)
_OTHER_BREAKS = re.compile("[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def _markers(text: str):
    """(start, end, name) of each marker line, end past its newline; name None for an end marker."""
    for match in _CANDIDATE.finditer(text):
        end = match.end() + 1 if match.end() < len(text) else match.end()
        line = text[match.start():end]
        start = _START.match(line)
        if start:
            yield match.start(), end, start.group(1) or start.group(2)
        elif _END.match(line):
            yield match.start(), end, None


def regions(text: str) -> dict[str, str]:
    """Region name -> its content (the lines between the markers), in file order."""
    if MARKER not in text:
        return {}
    if _OTHER_BREAKS.search(text):
        return _regions_by_line(text)
    found: dict[str, str] = {}
    name, content_from = None, 0
    for begin, end, marker in _markers(text):
        if name is None and marker is not None:
            name, content_from = marker, end
        elif name is not None and marker is None:
            found.setdefault(name, text[content_from:begin])
            name = None
    return found


def fill(text: str, contents: dict[str, str]) -> tuple[str, dict[str, str]]:
    """`text` with its regions holding `contents`; also the non-empty contents it has no place for."""
    if MARKER not in text:
        return text, {k: v for k, v in contents.items() if v.strip()}
    if _OTHER_BREAKS.search(text):
        return _fill_by_line(text, contents)
    out, name, position = [], None, 0
    placed = set()
    for begin, end, marker in _markers(text):
        if name is None and marker is not None:
            out.append(text[position:end])
            name, position = marker, end
            if name in contents:
                out.append(contents[name])
                placed.add(name)
        elif name is not None and marker is None:
            if name not in placed:
                out.append(text[position:begin])  # the generator's own default content
            out.append(text[begin:end])
            name, position = None, end
    if name is None or name not in placed:
        out.append(text[position:])
    leftover = {k: v for k, v in contents.items() if k not in placed and v.strip()}
    return "".join(out), leftover


def _regions_by_line(text: str) -> dict[str, str]:
    """regions(), line by line as str.splitlines() sees lines (the reference the fast path follows)."""
    found: dict[str, str] = {}
    name, lines = None, []
    for line in text.splitlines(keepends=True):
        if name is None:
            start = _START.match(line)
            if start:
                name, lines = start.group(1) or start.group(2), []
        elif _END.match(line):
            found.setdefault(name, "".join(lines))
            name = None
        else:
            lines.append(line)
    return found


def _fill_by_line(text: str, contents: dict[str, str]) -> tuple[str, dict[str, str]]:
    """fill(), line by line (the reference the fast path follows)."""
    out, name = [], None
    placed = set()
    for line in text.splitlines(keepends=True):
        if name is None:
            out.append(line)
            start = _START.match(line)
            if start:
                name = start.group(1) or start.group(2)
                if name in contents:
                    out.append(contents[name])
                    placed.add(name)
        elif _END.match(line):
            out.append(line)
            name = None
        elif name not in placed:
            out.append(line)  # the generator's own default content
    leftover = {k: v for k, v in contents.items() if k not in placed and v.strip()}
    return "".join(out), leftover


def blank(text: str) -> str:
    """`text` with every region emptied: what opgen itself is responsible for."""
    return fill(text, {name: "" for name in regions(text)})[0]
