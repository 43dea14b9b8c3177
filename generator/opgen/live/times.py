"""Times on the command line and in outputs: RFC 3339 or Unix seconds in, RFC 3339 (UTC) out."""

from __future__ import annotations

import math
from datetime import datetime, timezone


def parse_time(text: str, flag: str) -> float:
    """Unix seconds of `text`: a number of seconds, or RFC 3339 with its offset (2026-12-01T09:30:00Z)."""
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
        raise ValueError(f"{flag} {text!r} is not a time: Unix seconds must be a finite number, at least 0")
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{flag} {text!r} is not a time: use RFC 3339 like 2026-12-01T09:30:00Z, or Unix seconds") from None
    if moment.tzinfo is None:
        raise ValueError(f"{flag} {text!r} has no time zone: add Z (UTC) or an offset like +01:00")
    return moment.timestamp()


def format_time(seconds: float) -> str:
    """RFC 3339 in UTC: whole seconds when the time has no fraction, else milliseconds."""
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    if round(seconds * 1000) % 1000 == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{round(seconds * 1000) % 1000:03d}Z"


def format_seconds(seconds: float) -> str:
    """A length of time for people: 3d 4h, 2h 5m, 45s."""
    seconds = int(round(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        if len(parts) == 2:
            break
    return " ".join(parts)
