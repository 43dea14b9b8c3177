"""Time masks for an SLO whose budget leaves planned maintenance out (`slos[].maintenance: excluded`).

Prometheus knows no time zones: time() and PromQL's date functions are UTC. A weekly window at
02:00 in Europe/Berlin is 01:00 UTC in winter and 00:00 UTC in summer, so the mask computes local
time as time() plus the zone's UTC offset: the offset at MASK_FROM, plus a step at every change
of it until MASK_UNTIL, read from the IANA time zone database when opgen writes the rules. Local
time then gives the minute of the week (Monday 00:00 is 0), which the weekly windows are ranges
of. One-off dates are instants in UTC, converted here with the same database.

Outside [MASK_FROM, MASK_UNTIL) the weekly windows mask nothing: there the offsets are not
written out (and promtool's unit tests, which run in 1970, see the SLO unmasked). Every window is
held MASK_TAIL_MINUTES longer than declared, because the 5m rate recorded just after a window
still counts the window's last minutes.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from opgen.descriptor.model import Maintenance, MaintenanceWindow

MASK_FROM = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
MASK_UNTIL = datetime.datetime(2040, 1, 1, tzinfo=datetime.timezone.utc)
MASK_TAIL_MINUTES = 5  # the SLI's short window: the 5m rate after a window still reads it
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
EPOCH_WEEK_MINUTE = 3 * MINUTES_PER_DAY  # 1970-01-01, Unix time 0, was a Thursday
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def utc_offsets(zone: str) -> tuple[int, list[tuple[int, int]]]:
    """The zone's UTC offset in seconds at MASK_FROM, and each change until MASK_UNTIL as
    (Unix second it takes effect, new offset)."""
    tz = ZoneInfo(zone)

    def offset(second: int) -> int:
        return int(datetime.datetime.fromtimestamp(second, tz).utcoffset().total_seconds())

    start, until, day = int(MASK_FROM.timestamp()), int(MASK_UNTIL.timestamp()), 86400
    base, changes, current = offset(start), [], offset(start)
    for second in range(start, until, day):
        if offset(second + day) == current:
            continue
        low, high = second, second + day  # offset(low) == current != offset(high)
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if offset(middle) == current else (low, middle)
        current = offset(high)
        changes.append((high, current))
    return base, changes


def local_week_minute(zone: str) -> str:
    """PromQL for the minute of the local week (0 is Monday 00:00) while within the mask's years."""
    base, changes = utc_offsets(zone)
    local, previous = ["time()", f"+ {base}"], base
    for second, new in changes:  # from this second on, the offset steps by new - previous
        step = new - previous
        local.append(f"{'+' if step > 0 else '-'} {abs(step)} * (time() >= bool {second})")
        previous = new
    lines = "\n".join(f"      {part}" for part in local)
    return (f"vector(\n  (\n    (\n{lines}\n    ) / 60 + {EPOCH_WEEK_MINUTE}\n  ) % {MINUTES_PER_WEEK}\n)\n"
            f"and on()\nvector(time()) >= {int(MASK_FROM.timestamp())} < {int(MASK_UNTIL.timestamp())}")


def _minute_of_day(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _length(window: MaintenanceWindow) -> int:
    """Minutes the window lasts as declared: an end at or before the start is on the next day."""
    start, end = _minute_of_day(window.start), _minute_of_day(window.end)
    return end - start if end > start else end + MINUTES_PER_DAY - start


def week_ranges(maintenance: Maintenance) -> list[tuple[int, int]]:
    """The weekly windows as merged [start, end) minutes of the week, each held MASK_TAIL_MINUTES longer."""
    ranges = []
    for window in maintenance.windows:
        for day in window.days:
            start = WEEKDAYS.index(day) * MINUTES_PER_DAY + _minute_of_day(window.start)
            end = start + _length(window) + MASK_TAIL_MINUTES
            ranges += [(start, min(end, MINUTES_PER_WEEK))] + ([(0, end - MINUTES_PER_WEEK)] if end > MINUTES_PER_WEEK else [])
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def dated_ranges(maintenance: Maintenance) -> list[tuple[int, int]]:
    """The one-off windows as [start, end) Unix seconds, each held MASK_TAIL_MINUTES longer."""
    tz = ZoneInfo(maintenance.time_zone)
    ranges = []
    for window in maintenance.windows:
        if window.date is None:
            continue
        day = datetime.date.fromisoformat(window.date)
        start = datetime.datetime.combine(day, datetime.time(), tz) + datetime.timedelta(minutes=_minute_of_day(window.start))
        local_end = start.replace(tzinfo=None) + datetime.timedelta(minutes=_length(window))
        end = local_end.replace(tzinfo=tz) + datetime.timedelta(minutes=MASK_TAIL_MINUTES)
        ranges.append((int(start.timestamp()), int(end.timestamp())))
    return sorted(ranges)


def in_maintenance(maintenance: Maintenance, week_minute: str) -> str:
    """PromQL that is 1 while a window (or its tail) is on, and empty otherwise. `week_minute` is
    a query for the local minute of the week (the recording of local_week_minute)."""
    conditions = [f"{week_minute} >= {start} < {end}" for start, end in week_ranges(maintenance)]
    conditions += [f"vector(time()) >= {start} < {end}" for start, end in dated_ranges(maintenance)]
    return "vector(1)\nand on()\n(\n  " + "\n  or\n  ".join(conditions) + "\n)"
