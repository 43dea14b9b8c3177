"""Multi-window, multi-burn-rate alerting as data (Google SRE workbook, chapter 5).

Each pair alerts when `budget_share` of the whole error budget would burn within `long`;
the short window makes the alert stop soon after the burning stops. Burn-rate factors are
computed from these numbers and the SLO window, never written down.

The pairs are the workbook's, made for a 30d window. From REFERENCE_WINDOW (28d) up they keep
their windows, and the factor grows with the SLO window. Below it, a fixed 3d window would be
almost half of a 7d SLO and its factor (0.233) would tick while the objective is met, so the
windows shrink with the SLO window instead (as Pyrra does) and the factors stay those of 28d.
Whatever the window, no pair fires at a burn rate of 1 or less: such a burn meets the objective.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from functools import cache

from opgen.conventions import SEVERITY_PAGE, SEVERITY_TICKET
from opgen.slo.durations import format_duration, parse_duration


@dataclass(frozen=True)
class WindowPair:
    severity: str
    budget_share: Fraction  # share of the window's error budget that this pair alerts on
    long: Fraction  # seconds
    short: Fraction  # seconds
    for_seconds: Fraction  # how long the condition must hold before the alert fires

    @property
    def long_text(self) -> str:
        return format_duration(self.long)

    @property
    def short_text(self) -> str:
        return format_duration(self.short)


def _pair(severity: str, share: str, long: str, short: str, hold: str) -> WindowPair:
    return WindowPair(severity, Fraction(share), parse_duration(long), parse_duration(short), parse_duration(hold))


WINDOW_PAIRS = (
    _pair(SEVERITY_PAGE, "0.02", "1h", "5m", "2m"),
    _pair(SEVERITY_PAGE, "0.05", "6h", "30m", "2m"),
    _pair(SEVERITY_TICKET, "0.10", "1d", "2h", "15m"),
    _pair(SEVERITY_TICKET, "0.10", "3d", "6h", "15m"),
)
REFERENCE_WINDOW = parse_duration("28d")  # from here up the pairs keep their windows
SUSTAINABLE_BURN_RATE = Fraction(1)  # the budget lasts exactly the SLO window

# Error ratios are recorded for these windows (plus the SLO window). Up to RAW_WINDOW_LIMIT they
# are rates over the raw counters; longer ones are built from the 5m recordings, request-weighted.
SHORT_WINDOW = parse_duration("5m")  # also the shortest window: a rate needs several scrapes
RAW_WINDOW_LIMIT = parse_duration("6h")
EXHAUSTED_FOR = parse_duration("15m")
MINUTE = Fraction(60)


@cache
def window_pairs(slo_window: Fraction) -> tuple[WindowPair, ...]:
    """The pairs an SLO window uses: the workbook's from 28d up; below, every window scaled by
    slo_window / 28d, in whole minutes, short windows no shorter than SHORT_WINDOW. Each `for`
    stays: it guards against scrape noise, which does not shrink with the SLO window."""
    if slo_window >= REFERENCE_WINDOW:
        return WINDOW_PAIRS
    scale = Fraction(slo_window) / REFERENCE_WINDOW
    return tuple(replace(pair, long=_whole_minutes(pair.long * scale),
                         short=max(SHORT_WINDOW, _whole_minutes(pair.short * scale))) for pair in WINDOW_PAIRS)


def _whole_minutes(seconds: Fraction) -> Fraction:
    return max(MINUTE, round(seconds / MINUTE) * MINUTE)


def burn_rate_factor(budget_share: Fraction, slo_window: Fraction, long_window: Fraction) -> Fraction:
    """How many times faster than sustainable the budget burns when `budget_share` goes in `long_window`.

    2 % of a 30d budget in 1h: 0.02 * 720 = 14.4.
    """
    return Fraction(budget_share) * Fraction(slo_window) / Fraction(long_window)


@cache
def burn_rate_threshold(pair: WindowPair, slo_window: Fraction) -> Fraction:
    """The burn rate above which `pair` fires: its factor, but never below 1. A 28d SLO's 3d pair
    (factor 0.933) would otherwise open tickets for a burn that meets the objective."""
    return max(SUSTAINABLE_BURN_RATE, burn_rate_factor(pair.budget_share, slo_window, pair.long))


def budget_lasts(pair: WindowPair, slo_window: Fraction) -> Fraction:
    """How long the whole budget lasts at the pair's threshold: the SLO window over the threshold."""
    return Fraction(slo_window) / burn_rate_threshold(pair, slo_window)


def recorded_windows(slo_window: Fraction) -> tuple[Fraction, ...]:
    """Every window with an error-ratio recording, shortest first."""
    windows = {SHORT_WINDOW, slo_window}
    for pair in window_pairs(slo_window):
        windows.update((pair.long, pair.short))
    return tuple(sorted(windows))


def raw_windows(slo_window: Fraction) -> tuple[Fraction, ...]:
    """The recorded windows read from the raw metrics (SHORT_WINDOW first)."""
    return tuple(w for w in recorded_windows(slo_window) if w <= RAW_WINDOW_LIMIT)


def long_windows(slo_window: Fraction) -> tuple[Fraction, ...]:
    """The recorded windows built from the 5m recordings (the SLO window last)."""
    return tuple(w for w in recorded_windows(slo_window) if w > RAW_WINDOW_LIMIT)
