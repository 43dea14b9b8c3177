"""Problems found in user input: values with a position, collected rather than raised one by one."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Position:
    """A place in a file; line and column count from 1, as editors show them.
    Line 0 means a place that is not in a file (a command-line flag or argument)."""

    file: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}" if self.line else self.file


@dataclass(frozen=True, order=True)
class Problem:
    position: Position
    message: str

    def __str__(self) -> str:
        return f"{self.position}: {self.message}"


@dataclass
class DescriptorError(Exception):
    """Raised once, with every problem of one or more descriptors."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in sorted(self.problems))


class FileError(Exception):
    """A path that cannot be read or written the way opgen needs; the message names it (exit 2)."""
