"""Multi-window, multi-burn-rate alerting as data (Google SRE workbook, chapter 5).

Each pair alerts when `budget_share` of the whole error budget would burn within `long`;
the short window makes the alert stop soon after the burning stops. Burn-rate factors are
computed from these numbers and the SLO window, never written down.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

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

# Error ratios are recorded for these windows (plus the SLO window). Up to RAW_WINDOW_LIMIT they
# are rates over the raw counters; longer ones are built from the 5m recordings, request-weighted.
SHORT_WINDOW = parse_duration("5m")
RAW_WINDOW_LIMIT = parse_duration("6h")
EXHAUSTED_FOR = parse_duration("15m")


def burn_rate_factor(budget_share: Fraction, slo_window: Fraction, long_window: Fraction) -> Fraction:
    """How many times faster than sustainable the budget burns when `budget_share` goes in `long_window`.

    2 % of a 30d budget in 1h: 0.02 * 720 = 14.4.
    """
    return Fraction(budget_share) * Fraction(slo_window) / Fraction(long_window)


def recorded_windows(slo_window: Fraction) -> tuple[Fraction, ...]:
    """Every window with an error-ratio recording, shortest first."""
    windows = {SHORT_WINDOW, slo_window}
    for pair in WINDOW_PAIRS:
        windows.update((pair.long, pair.short))
    return tuple(sorted(windows))
