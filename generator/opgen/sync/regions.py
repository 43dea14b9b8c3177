"""Keep-regions: the parts of generated files that belong to people.

A region is the lines between a start marker and an end marker, in the comment syntax of the file:

    <!-- opgen:keep notes -->          # opgen:keep imports
    ...                                ...
    <!-- opgen:end -->                 # opgen:end

Sync carries each region's content into the regenerated file by name, and judges whether a file
was edited by hand with region contents blanked out: editing inside a region is not a conflict.
"""

from __future__ import annotations

import re

_START = re.compile(r"^\s*(?:<!--\s*opgen:keep\s+([A-Za-z0-9_.-]+)\s*-->|#\s*opgen:keep\s+([A-Za-z0-9_.-]+))\s*$")
_END = re.compile(r"^\s*(?:<!--\s*opgen:end\s*-->|#\s*opgen:end)\s*$")


MARKER = "opgen:keep"  # every start marker holds it: a text without it has no region


def regions(text: str) -> dict[str, str]:
    """Region name -> its content (the lines between the markers), in file order."""
    if MARKER not in text:
        return {}
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


def fill(text: str, contents: dict[str, str]) -> tuple[str, dict[str, str]]:
    """`text` with its regions holding `contents`; also the non-empty contents it has no place for."""
    if MARKER not in text:
        return text, {k: v for k, v in contents.items() if v.strip()}
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
