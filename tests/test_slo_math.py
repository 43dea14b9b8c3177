"""Burn-rate factors, windows, durations and exact numbers: the SLO math as data."""

from fractions import Fraction

import pytest

from opgen.slo.durations import format_duration, parse_duration
from opgen.slo.numbers import format_number, to_fraction
from opgen.slo.windows import WINDOW_PAIRS, burn_rate_factor, recorded_windows


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
