"""Exact decimal text for numbers that end up in rules: 0.001, never 0.0009999999999999432."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

SIGNIFICANT_DIGITS = 6


def to_fraction(value: float | int | str | Decimal | Fraction) -> Fraction:
    """A float from YAML (99.9) is read as the decimal the user wrote, not its binary neighbour."""
    if isinstance(value, float):
        return Fraction(Decimal(repr(value)))
    return Fraction(value)


def format_number(value: Fraction) -> str:
    """Plain decimal text: exact when the value has a short decimal form, else 6 significant digits."""
    value = Fraction(value)
    if value == 0:
        return "0"
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator == 1:
        text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    else:
        rounded = Decimal(value.numerator) / Decimal(value.denominator)
        text = format(rounded.normalize().__round__(_decimals_for(rounded)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _decimals_for(value: Decimal) -> int:
    """Decimal places that keep SIGNIFICANT_DIGITS significant digits."""
    exponent = value.copy_abs().adjusted()
    return max(0, SIGNIFICANT_DIGITS - 1 - exponent)
