"""Burn-rate factors, windows, durations and exact numbers: the SLO math as data."""

from fractions import Fraction

import pytest

from opgen.slo.durations import format_duration, parse_duration
from opgen.slo.numbers import format_number, to_fraction
from opgen.slo.windows import WINDOW_PAIRS, budget_lasts, burn_rate_factor, burn_rate_threshold, recorded_windows, window_pairs


def factors(window: str) -> list[Fraction]:
    return [burn_rate_factor(p.budget_share, parse_duration(window), p.long) for p in WINDOW_PAIRS]


def test_the_google_workbook_pairs():
    assert [(p.severity, p.budget_share, format_duration(p.long), format_duration(p.short)) for p in WINDOW_PAIRS] == [
        ("page", Fraction("0.02"), "1h", "5m"),
        ("page", Fraction("0.05"), "6h", "30m"),
        ("ticket", Fraction("0.1"), "1d", "2h"),
        ("ticket", Fraction("0.1"), "3d", "6h"),
    ]


@pytest.mark.parametrize(
    "window, expected",
    [
        ("30d", [Fraction("14.4"), Fraction(6), Fraction(3), Fraction(1)]),
        ("28d", [Fraction("13.44"), Fraction("5.6"), Fraction("2.8"), Fraction(14, 15)]),
        ("7d", [Fraction("3.36"), Fraction("1.4"), Fraction("0.7"), Fraction(7, 30)]),
    ],
)
def test_burn_rate_factors_are_budget_share_times_window_over_long_window(window, expected):
    assert factors(window) == expected


def test_factors_print_exactly_or_to_six_significant_digits():
    assert [format_number(f) for f in factors("30d")] == ["14.4", "6", "3", "1"]
    assert [format_number(f) for f in factors("28d")] == ["13.44", "5.6", "2.8", "0.933333"]
    assert [format_number(f) for f in factors("7d")] == ["3.36", "1.4", "0.7", "0.233333"]


@pytest.mark.parametrize(
    "objective, budget",
    [(99.9, "0.001"), (99.95, "0.0005"), (99.99, "0.0001"), (99.999, "0.00001"), (99, "0.01"), (95, "0.05"), (99.5, "0.005")],
)
def test_error_budgets_print_without_float_noise(objective, budget):
    assert format_number(1 - to_fraction(objective) / 100) == budget


def test_recorded_windows_cover_every_pair_and_the_slo_window():
    assert [format_duration(w) for w in recorded_windows(parse_duration("28d"))] == [
        "5m", "30m", "1h", "2h", "6h", "1d", "3d", "28d"]


@pytest.mark.parametrize("text, seconds", [("500ms", Fraction(1, 2)), ("1h30m", 5400), ("30d", 2592000), ("0.25s", Fraction(1, 4))])
def test_durations_parse_exactly(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "fast", "5 m", "0s", "1y", "-5m"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


# --- section 1: short SLO windows ---------------------------------------------------------------

ALL_WINDOWS = [f"{days}d" for days in range(7, 91)]


@pytest.mark.parametrize("window", ALL_WINDOWS)
def test_no_pair_fires_while_the_long_window_burns_at_or_below_one(window):
    """A burn rate of 1 or less meets the objective: no pair may fire there, whatever the window."""
    slo_window = parse_duration(window)
    for pair in window_pairs(slo_window):
        assert burn_rate_threshold(pair, slo_window) >= 1, (window, pair)


@pytest.mark.parametrize("window", ALL_WINDOWS)
def test_pages_mean_the_budget_goes_within_days_not_weeks(window):
    """A page's threshold spends the whole budget in at most a fifth of the window (30d: 50 h and 5 d)."""
    slo_window = parse_duration(window)
    pages = [p for p in window_pairs(slo_window) if p.severity == "page"]
    assert len(pages) == 2
    for pair in pages:
        assert slo_window / burn_rate_threshold(pair, slo_window) <= slo_window / 5, (window, pair)


@pytest.mark.parametrize("window", ALL_WINDOWS)
def test_windows_are_whole_minutes_and_short_windows_hold_several_scrapes(window):
    for pair in window_pairs(parse_duration(window)):
        assert pair.long % 60 == 0 and pair.short % 60 == 0
        assert parse_duration("5m") <= pair.short < pair.long


def test_28d_and_longer_keep_the_workbook_windows_and_computed_factors():
    for window in ("28d", "30d", "90d"):
        assert window_pairs(parse_duration(window)) == WINDOW_PAIRS
    thresholds = [burn_rate_threshold(p, parse_duration("28d")) for p in WINDOW_PAIRS]
    assert thresholds == [Fraction("13.44"), Fraction("5.6"), Fraction("2.8"), Fraction(1)]  # 0.933 would tick a met SLO


def test_7d_scales_the_windows_with_the_slo_window():
    pairs = window_pairs(parse_duration("7d"))
    assert [(p.severity, format_duration(p.long), format_duration(p.short), format_duration(p.for_seconds))
            for p in pairs] == [
        ("page", "15m", "5m", "2m"), ("page", "90m", "8m", "2m"),
        ("ticket", "6h", "30m", "15m"), ("ticket", "18h", "90m", "15m")]
    assert [burn_rate_threshold(p, parse_duration("7d")) for p in pairs] == [
        Fraction("13.44"), Fraction("5.6"), Fraction("2.8"), Fraction(1)]


def test_the_whole_budget_lasts_the_window_over_the_threshold():
    seven = parse_duration("7d")
    assert [format_duration(budget_lasts(p, seven)) for p in window_pairs(seven)] == ["750m", "30h", "60h", "7d"]
    thirty = parse_duration("30d")
    assert [format_duration(budget_lasts(p, thirty)) for p in window_pairs(thirty)] == ["50h", "5d", "10d", "30d"]
