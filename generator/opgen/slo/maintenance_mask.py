"""Time masks for an SLO whose budget leaves planned maintenance out (`slos[].maintenance: excluded`).

Prometheus knows no time zones: time() and PromQL's date functions are UTC. A weekly window at
02:00 in Europe/Berlin is 01:00 UTC in winter and 00:00 UTC in summer, so the mask reads the
maintenance's wall clock: time() plus the zone's UTC offset, the offset at MASK_FROM plus a step
at every change of it until MASK_UNTIL, read from the IANA time zone database when opgen writes
the rules. A weekly window is a range of minutes of that clock's week (Monday 00:00 is 0), a
one-off window a range of the clock itself (its date and times as if they were UTC). So the mask
reads windows as Alertmanager's time intervals do, on the wall clock: a window at times a
daylight-saving change skips masks nothing of them, and one at times it repeats masks both.

Outside [MASK_FROM, MASK_UNTIL) no window masks anything: there the offsets are not written out
(and promtool's unit tests, which run in 1970, see the SLO unmasked). Every window is held
MASK_TAIL_MINUTES longer than declared, because the 5m rate recorded just after a window still
counts the window's last minutes.
"""

from __future__ import annotations

import datetime
from functools import cache
from zoneinfo import ZoneInfo

from opgen.descriptor.model import Maintenance, MaintenanceWindow

MASK_FROM = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
MASK_UNTIL = datetime.datetime(2040, 1, 1, tzinfo=datetime.timezone.utc)
MASK_TAIL_MINUTES = 5  # the SLI's short window: the 5m rate after a window still reads it
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
EPOCH_WEEK_MINUTE = 3 * MINUTES_PER_DAY  # 1970-01-01, Unix time 0, was a Thursday
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@cache  # a sync renders many services in one zone; each renders its offsets several times
def utc_offsets(zone: str) -> tuple[int, tuple[tuple[int, int], ...]]:
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
    return base, tuple(changes)


def wall_clock(zone: str) -> str:
    """PromQL for the zone's wall clock in seconds (Unix time as if local times were UTC), while
    within the mask's years."""
    base, changes = utc_offsets(zone)
    local, previous = ["time()", f"+ {base}"], base
    for second, new in changes:  # from this second on, the offset steps by new - previous
        step = new - previous
        local.append(f"{'+' if step > 0 else '-'} {abs(step)} * (time() >= bool {second})")
        previous = new
    lines = "\n".join(f"  {part}" for part in local)
    return (f"vector(\n{lines}\n)\n"
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
    """The one-off windows as [start, end) of the wall clock (wall_clock), each held MASK_TAIL_MINUTES longer."""
    epoch = datetime.datetime(1970, 1, 1)
    ranges = []
    for window in maintenance.windows:
        if window.date is None:
            continue
        start = datetime.datetime.combine(datetime.date.fromisoformat(window.date), datetime.time()) \
            + datetime.timedelta(minutes=_minute_of_day(window.start))
        end = start + datetime.timedelta(minutes=_length(window) + MASK_TAIL_MINUTES)
        ranges.append((int((start - epoch).total_seconds()), int((end - epoch).total_seconds())))
    return sorted(ranges)


def in_maintenance(maintenance: Maintenance, clock: str) -> str:
    """PromQL that is 1 while a window (or its tail) is on, and empty otherwise. `clock` is a query
    for the maintenance's wall clock (the recording of wall_clock)."""
    week_minute = f"({clock} / 60 + {EPOCH_WEEK_MINUTE}) % {MINUTES_PER_WEEK}"
    conditions = [f"{week_minute} >= {start} < {end}" for start, end in week_ranges(maintenance)]
    conditions += [f"{clock} >= {start} < {end}" for start, end in dated_ranges(maintenance)]
    return "vector(1)\nand on()\n(\n  " + "\n  or\n  ".join(conditions) + "\n)"


def longest_pause(maintenance: Maintenance) -> int:
    """An upper bound, in seconds, on how long the mask stays on without a break: the longest
    weekly stretch (joined across the week's end), or a one-off window with such a stretch on
    each side of it."""
    weekly = week_ranges(maintenance)
    if len(weekly) > 1 and weekly[0][0] == 0 and weekly[-1][1] == MINUTES_PER_WEEK:
        weekly = [(weekly[-1][0] - MINUTES_PER_WEEK, weekly[0][1])] + weekly[1:-1]  # Sunday night into Monday
    stretch = max((end - start for start, end in weekly), default=0) * 60
    dated = max((end - start for start, end in dated_ranges(maintenance)), default=0)
    return max(stretch, dated + 2 * stretch) if dated else stretch


def masks_the_whole_week(maintenance: Maintenance) -> bool:
    return week_ranges(maintenance) == [(0, MINUTES_PER_WEEK)]
