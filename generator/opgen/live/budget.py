"""An SLO's SLI and error budget over its window at one time, from the raw series (report, gate).

Computed from the raw series, not the recording rules, so it works before the rules have any
history. The queries are the rules' own (opgen.slo.sli), over one day at a time:

- Event SLIs: the rules' rate of bad and of all events over 1d, as one range query each with a
  step of one day ending at `at`; each point times 86 400 s is that day's count of events
  (Prometheus' increase()). Summed over the window's days, bad over total is request-weighted, and
  no query loads more than a day of samples per series at once. Each day's range [end - 1d, end]
  holds the sample on its boundary with the next day (Prometheus 2), so the days' increases chain
  without a gap: with samples on the day boundaries the counts are exact.
- Time-based SLIs (job-success, job-on-time): the rules' bad-minute series, sampled once a minute,
  counted per day (count_over_time) and summed (sum_over_time). Each day's subquery spans one day
  less a millisecond, so a minute on a boundary is counted once: a window of N days is N x 1440
  minutes, as in Prometheus 3 where ranges are open at their start.
- Burn rates: the rules' 1h ratio (an instant query), and the last day's ratio for 1d.
- The data it saw: the first and last sample timestamps (to the minute) of the series the SLI
  reads, within the first and the last day that has data.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from opgen.descriptor.model import SLO, Service
from opgen.live.client import Prometheus
from opgen.live.selectors import selectors_in
from opgen.live.times import format_time
from opgen.slo.durations import format_duration
from opgen.slo.sli import sli_queries, time_slices

DAY_SECONDS = 86400
DAY = format_duration(Fraction(DAY_SECONDS))
DAY_OF_SLICES = format_duration(Fraction(DAY_SECONDS * 1000 - 1, 1000))  # 86399999ms: see the docstring
SHORT_BURN_WINDOW = "1h"
SAMPLE_RESOLUTION = "1m"  # of the first and last sample times
LOOKBACK_SECONDS = 300  # Prometheus' lookback: a gap shorter than this is no gap to a query

OK, BURNING, EXHAUSTED, NO_DATA = "ok", "burning", "exhausted", "no-data"


@dataclass(frozen=True)
class Day:
    end: float  # unix seconds; the day is [end - 1d, end]
    bad: float  # events (or minutes) that were bad
    total: float


@dataclass(frozen=True)
class SLOFigures:
    service: Service
    slo: SLO
    at: float
    days: tuple[Day, ...]  # the days with data, oldest first
    ratio_1h: float | None  # the error ratio over the last hour, as the rules record it
    first_sample: float | None
    last_sample: float | None

    @property
    def window_start(self) -> float:
        return self.at - float(self.slo.window_seconds)

    @property
    def unit(self) -> str:
        return "minutes" if self.slo.sli.time_based else "events"

    @property
    def total(self) -> float:
        return sum(day.total for day in self.days)

    @property
    def bad(self) -> float:
        return sum(day.bad for day in self.days)

    @property
    def good(self) -> float:
        return self.total - self.bad

    @property
    def has_data(self) -> bool:
        return self.total > 0

    @property
    def error_ratio(self) -> float | None:
        return self.bad / self.total if self.has_data else None

    @property
    def sli(self) -> float | None:
        return self.good / self.total if self.has_data else None

    @property
    def budget_spent(self) -> float | None:
        """Share of the window's error budget spent; above 1 once the objective is broken."""
        return self.error_ratio / float(self.slo.error_budget) if self.has_data else None

    @property
    def budget_remaining(self) -> float | None:
        """1 - spent, as the rules record it (slo:period_error_budget_remaining:ratio): negative when overspent."""
        return 1 - self.budget_spent if self.has_data else None

    @property
    def burn_rate_1h(self) -> float | None:
        return None if self.ratio_1h is None else self.ratio_1h / float(self.slo.error_budget)

    @property
    def burn_rate_1d(self) -> float | None:
        last = self.days[-1] if self.days else None
        if last is None or last.end != self.at or last.total <= 0:
            return None
        return last.bad / last.total / float(self.slo.error_budget)

    @property
    def time_to_exhaustion(self) -> float | None:
        """Seconds until the remaining budget is gone at the last hour's burn rate; 0 when it is
        gone already, None when the last hour burnt nothing (or had no data)."""
        if not self.has_data:
            return None
        if self.budget_remaining <= 0:
            return 0.0
        if not self.burn_rate_1h:
            return None
        return self.budget_remaining * float(self.slo.window_seconds) / self.burn_rate_1h

    @property
    def status(self) -> str:
        """no-data; exhausted (the whole budget is spent); burning (the last hour spent it faster than
        the window can afford: a burn rate above 1); else ok."""
        if not self.has_data:
            return NO_DATA
        if round(self.budget_spent, 12) >= 1:  # float noise must not keep a spent budget from being spent
            return EXHAUSTED
        if self.burn_rate_1h is not None and self.burn_rate_1h > 1:
            return BURNING
        return OK

    @property
    def days_without_data(self) -> int:
        """Days of the window (since its first data) that had none."""
        if not self.days:
            return round(float(self.slo.window_seconds) / DAY_SECONDS)
        return round((self.days[-1].end - self.days[0].end) / DAY_SECONDS) + 1 - len(self.days)

    @property
    def partial(self) -> bool:
        """The data does not cover the whole window: it starts late, stops early, or has whole days missing."""
        if self.first_sample is None or self.last_sample is None:
            return True
        return (self.first_sample - self.window_start > LOOKBACK_SECONDS or self.at - self.last_sample > LOOKBACK_SECONDS
                or self.days_without_data > 0)

    def burn_down(self) -> list[tuple[float, float]]:
        """(time, share of the budget left) at the window's start and at the end of each day with
        data: what the window's bad events had spent by then, of the budget its events allow."""
        if not self.has_data:
            return []
        allowed = float(self.slo.error_budget) * self.total
        points, spent = [(self.window_start, 1.0)], 0.0
        for day in self.days:
            spent += day.bad
            points.append((day.end, 1 - spent / allowed))
        return points

    def as_json(self) -> dict:
        return {
            "service": self.service.name,
            "slo": self.slo.name,
            "objective": float(self.slo.objective),
            "window": self.slo.window,
            "window_seconds": int(self.slo.window_seconds),
            "kind": self.slo.sli.kind,
            "unit": self.unit,
            "sli": self.sli,
            "error_ratio": self.error_ratio,
            "good": self.good if self.has_data else None,
            "bad": self.bad if self.has_data else None,
            "total": self.total if self.has_data else None,
            "budget_spent": self.budget_spent,
            "budget_remaining": self.budget_remaining,
            "burn_rate_1h": self.burn_rate_1h,
            "burn_rate_1d": self.burn_rate_1d,
            "time_to_exhaustion_seconds": self.time_to_exhaustion,
            "status": self.status,
            "data": {
                "first_sample": None if self.first_sample is None else format_time(max(self.first_sample, self.window_start)),
                "last_sample": None if self.last_sample is None else format_time(self.last_sample),
                "partial": self.partial,
                "days_without_data": self.days_without_data,
            },
            "burn_down": [{"time": format_time(t), "budget_remaining": share} for t, share in self.burn_down()],
        }


def slo_figures(prometheus: Prometheus, service: Service, slo: SLO, at: float) -> SLOFigures:
    window_days = round(float(slo.window_seconds) / DAY_SECONDS)  # SLO windows are whole days (descriptor check)
    start = at - (window_days - 1) * DAY_SECONDS
    bad_query, total_query, per_point = daily_queries(service, slo)
    bad_by_day = _points(prometheus.query_range(bad_query, start, at, DAY_SECONDS), start)
    total_by_day = _points(prometheus.query_range(total_query, start, at, DAY_SECONDS), start)
    days = tuple(Day(at - (window_days - 1 - i) * DAY_SECONDS, bad_by_day.get(i, 0.0) * per_point, total * per_point)
                 for i, total in sorted(total_by_day.items()) if 0 <= i < window_days)
    short = sli_queries(service, slo, SHORT_BURN_WINDOW)
    bad_1h, total_1h = _value(prometheus.query(short.errors, at)), _value(prometheus.query(short.total, at))
    ratio_1h = bad_1h / total_1h if bad_1h is not None and total_1h else None
    first = last = None
    if days:
        sampled = [s.text() for s in selectors_in(sli_queries(service, slo, DAY).total)]
        first = _value(prometheus.query(_sample_times("min", sampled), days[0].end))
        last = _value(prometheus.query(_sample_times("max", sampled), days[-1].end))
    return SLOFigures(service, slo, at, days, ratio_1h, first, last)


def daily_queries(service: Service, slo: SLO) -> tuple[str, str, float]:
    """PromQL for one day's bad and total, and what each point is multiplied by to count them."""
    if slo.sli.time_based:
        slices = time_slices(service, slo, DAY_OF_SLICES)
        return f"sum_over_time({slices})", f"count_over_time({slices})", 1.0
    daily = sli_queries(service, slo, DAY)
    return daily.errors, daily.total, float(DAY_SECONDS)  # per-second rates over the day


def _sample_times(how: str, selectors: list[str]) -> str:
    """The first (min) or last (max) sample time of any of `selectors` in the day before the query's
    time (and the lookback before it: a day with one sample has no rate, so its sample is found here)."""
    span = format_duration(Fraction(DAY_SECONDS + LOOKBACK_SECONDS))
    parts = [f"{how}_over_time(timestamp({s})[{span}:{SAMPLE_RESOLUTION}])" for s in selectors]
    return f"{how}({' or '.join(parts)})"


def _points(series, start: float) -> dict[int, float]:
    """Values by day index (0 = the window's first day), summed over the series of the answer."""
    values: dict[int, float] = {}
    for item in series:
        for t, v in item.points:
            index = round((t - start) / DAY_SECONDS)
            values[index] = values.get(index, 0.0) + v
    return values


def _value(samples) -> float | None:
    return sum(s.value for s in samples) if samples else None
