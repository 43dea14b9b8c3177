"""`opgen backtest`: the generated alerts evaluated over the past, as if their rules had been loaded.

For each alerting rule of the service's rendered rule groups (whatever they hold), the expression
with its recordings expanded into raw series (live.expand) is evaluated by range queries at the
group's evaluation interval; each step at which it returns a series is a step at which Prometheus
would have had that alert active. `for` and `keep_firing_for` then decide when it fires, as
Prometheus' rule manager does: an alert fires at the first evaluation at least `for` after the
first of an unbroken run of active evaluations, and is resolved at the first evaluation that does
not return it (after `keep_firing_for`). Recordings read by the alert are those of the same
evaluation, as when the recordings' group runs first. Alerts that read ALERTS come last, and read
the pending and firing spans of the alerts before them (alerts_series).

Range queries are split so that none asks for more than MAX_POINTS steps (the API refuses more than
11 000 per series); a long window over a recording is a subquery over the raw series, so its cost
grows with that window (docs/live.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from opgen import conventions as c
from opgen.descriptor.model import Service
from opgen.live.client import Prometheus
from opgen.live.expand import ALERTS_SERIES, NOTHING, CannotExpand, Expander, Recording, label_replace, longest_range
from opgen.live.selectors import Selector, labels_match, selectors_in
from opgen.live.times import format_time
from opgen.render.prometheus_rules import rule_groups
from opgen.slo.durations import format_duration, parse_duration

MAX_POINTS = 10_000


@dataclass(frozen=True)
class Firing:
    alert: str
    labels: dict[str, str]  # as the alert carries them: the expression's labels, then the rule's
    start: float  # the evaluation at which it fired
    end: float | None  # the evaluation at which it was resolved; None: still firing at --until
    began_before: bool  # active since the first evaluation looked at: it may have started earlier

    @property
    def service(self) -> str | None:
        return self.labels.get(c.LABEL_SERVICE)

    @property
    def severity(self) -> str | None:
        return self.labels.get(c.LABEL_SEVERITY)

    def seconds(self, since: float, until: float) -> float:
        """How long it fired within [since, until]."""
        return max(0.0, min(self.end if self.end is not None else until, until) - max(self.start, since))

    def as_json(self, since: float, until: float) -> dict:
        return {
            "alert": self.alert,
            "service": self.service,
            "slo": self.labels.get(c.LABEL_SLO),
            "severity": self.severity,
            "start": format_time(self.start),
            "end": None if self.end is None else format_time(self.end),
            "firing_seconds": self.seconds(since, until),
            "began_before_since": self.began_before,
            "labels": dict(sorted(self.labels.items())),
        }


@dataclass(frozen=True)
class AlertSummary:
    service: str
    alert: str
    pages: int  # firings at severity page
    tickets: int
    firings: int
    firing_seconds: float  # time at least one of its firings was on, within [since, until]

    def as_json(self) -> dict:
        return {"service": self.service, "alert": self.alert, "pages": self.pages, "tickets": self.tickets,
                "firings": self.firings, "firing_seconds": self.firing_seconds}


@dataclass(frozen=True)
class Episode:
    """One run of evaluations that returned an alert: pending from `active_since`, firing from
    `firing_since` (None: it never fired), inactive again at `end` (None: still active at the end)."""

    alert: str
    labels: dict[str, str]
    active_since: float
    firing_since: float | None
    end: float | None
    began_before: bool  # active at the first evaluation looked at: it may have begun earlier


def backtest(prometheus: Prometheus, service: Service, since: float, until: float, interval: Fraction) -> list[Firing]:
    """Every firing of the service's alerts that was on at some time in [since, until]."""
    groups = rule_groups(service)
    recordings = [
        Recording(rule["record"], rule["expr"], tuple(sorted(rule.get("labels", {}).items())),
                  format_duration(_interval(group, interval)))
        for group in groups for rule in group["rules"] if "record" in rule
    ]
    longest = longest_range(rule["expr"] for group in groups for rule in group["rules"])
    episodes: list[Episode] = []
    expander = Expander(recordings, format_duration(Fraction(max(longest, 60))),
                        alerts=lambda selector: alerts_series(selector, episodes))
    alerts = [(group, rule) for group in groups for rule in group["rules"] if "alert" in rule]
    holds = [_duration(rule.get("for")) for _, rule in alerts]
    lookback = max(holds, default=0.0)  # every alert from the same evaluation: enough to know the state at `since`
    for group, rule in _readers_of_alerts_last(alerts):
        step = float(_interval(group, interval))
        try:
            expr = expander.expand(rule["expr"])
        except CannotExpand as problem:
            raise CannotExpand(f"alert {rule['alert']} of group {group['name']}: {problem}") from None
        first = math.ceil((since - lookback) / step) * step
        last = math.floor(until / step) * step
        for labels, steps in _active_steps(prometheus, expr, first, last, step).items():
            alert_labels = {**dict(labels), **{k: str(v) for k, v in rule.get("labels", {}).items()}}
            for active_since, firing_since, end in fire(steps, first, last, step, _duration(rule.get("for")),
                                                        _duration(rule.get("keep_firing_for"))):
                episodes.append(Episode(rule["alert"], alert_labels, active_since, firing_since, end, active_since == first))
    firings = [Firing(e.alert, e.labels, e.firing_since, e.end, e.began_before) for e in episodes
               if e.firing_since is not None and (e.end is None or e.end > since)]
    return sorted(firings, key=lambda f: (f.start, f.alert, sorted(f.labels.items())))


def fire(steps: set[int], first: float, last: float, step: float, hold: float, keep: float):
    """(active_since, firing_since, end) of each run of evaluations that returned the alert, from
    their indexes, as Prometheus' rule manager goes pending -> firing -> resolved; firing_since is
    None for a run that never lasted `for`, end None for one still on at `last`."""
    count = round((last - first) / step) + 1
    active_since = firing_since = kept_since = None
    for index in range(count):
        t = first + index * step
        if index in steps:
            if active_since is None:
                active_since = t
            kept_since = None
            if firing_since is None and t - active_since >= hold:
                firing_since = t
            continue
        if firing_since is not None and keep:  # keep_firing_for counts from the first evaluation without it
            kept_since = t if kept_since is None else kept_since
            if t - kept_since < keep:
                continue
        if active_since is not None:
            yield active_since, firing_since, t
        active_since = firing_since = kept_since = None
    if active_since is not None:
        yield active_since, firing_since, None


def alerts_series(selector: Selector, episodes: list[Episode]) -> str:
    """ALERTS{...} as the alerts evaluated so far would have written it: 1, with the alert's labels,
    alertname and alertstate (pending, then firing), at each evaluation while the alert was on."""
    spans: dict[tuple, list[tuple[float, float | None]]] = {}
    for e in episodes:
        named = {**e.labels, "alertname": e.alert}
        states = [("firing", e.firing_since, e.end)] if e.firing_since is not None else []
        if e.firing_since != e.active_since:
            states.insert(0, ("pending", e.active_since, e.firing_since if e.firing_since is not None else e.end))
        for state, start, end in states:
            labels = {**named, "alertstate": state}
            if labels_match(labels, selector.matchers):
                spans.setdefault(tuple(sorted(labels.items())), []).append((start, end))
    series = []
    for labels, times in sorted(spans.items()):
        when = " or ".join(f"vector(time()) >= {_number(start)}" + (f" and vector(time()) < {_number(end)}" if end is not None else "")
                           for start, end in times)
        text = f"(vector(1) and on() ({when}))"
        for label, value in labels:
            text = label_replace(text, label, value)
        series.append(text)
    return "(" + " or ".join(series) + ")" if series else NOTHING


def _readers_of_alerts_last(alerts: list[tuple[dict, dict]]) -> list[tuple[dict, dict]]:
    """Alerts that read no ALERTS first, then those that do, once what they read is known."""
    readers = [(g, r) for g, r in alerts if ALERTS_SERIES & {s.name for s in selectors_in(r["expr"])}]
    ordered = [(g, r) for g, r in alerts if (g, r) not in readers]
    for group, rule in readers:
        for selector in selectors_in(rule["expr"]):
            if selector.name in ALERTS_SERIES and any(
                    labels_match({**{k: str(v) for k, v in r.get("labels", {}).items()}, "alertname": r["alert"]},
                                 [m for m in selector.matchers if m[0] != "alertstate"]) for _, r in readers):
                raise CannotExpand(f"alert {rule['alert']} of group {group['name']} reads ALERTS of an alert that "
                                   "reads ALERTS itself")
    return ordered + readers


def _duration(text: str | None) -> float:
    return float(parse_duration(text)) if text else 0.0


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def summarise(firings: list[Firing], since: float, until: float) -> list[AlertSummary]:
    """Per service and alert: pages, tickets, and the time it spent firing (overlaps counted once)."""
    by_alert: dict[tuple[str, str], list[Firing]] = {}
    for firing in firings:
        by_alert.setdefault((firing.service or "", firing.alert), []).append(firing)
    summaries = []
    for (service, alert), group in sorted(by_alert.items()):
        spans = sorted((max(f.start, since), min(f.end if f.end is not None else until, until)) for f in group)
        covered, reach = 0.0, -math.inf
        for start, end in spans:
            if end > reach:
                covered += end - max(start, reach)
                reach = end
        summaries.append(AlertSummary(
            service, alert, sum(f.severity == c.SEVERITY_PAGE for f in group),
            sum(f.severity == c.SEVERITY_TICKET for f in group), len(group), covered))
    return summaries


def _interval(group: dict, default: Fraction) -> Fraction:
    return parse_duration(group["interval"]) if group.get("interval") else default


def _active_steps(prometheus: Prometheus, expr: str, first: float, last: float, step: float) -> dict[tuple, set[int]]:
    """For each label set the expression returned: the indexes of the evaluations that returned it."""
    active: dict[tuple, set[int]] = {}
    count = round((last - first) / step) + 1
    for chunk_start in range(0, count, MAX_POINTS):
        start = first + chunk_start * step
        end = first + (min(count, chunk_start + MAX_POINTS) - 1) * step
        for series in prometheus.query_range(expr, start, end, step):
            labels = tuple(sorted((k, v) for k, v in series.labels.items() if k != "__name__"))
            indexes = active.setdefault(labels, set())
            indexes.update(round((t - first) / step) for t, _ in series.points)  # any sample, NaN too, is an active alert
    return active


@dataclass(frozen=True)
class Backtest:
    """The firings of a run over [since, until], for every service it was given."""

    prometheus: str
    since: float
    until: float
    interval: Fraction
    firings: tuple[Firing, ...]

    @property
    def summaries(self) -> list[AlertSummary]:
        return summarise(list(self.firings), self.since, self.until)

    def as_json(self) -> dict:
        return {
            "prometheus": self.prometheus,
            "since": format_time(self.since),
            "until": format_time(self.until),
            "evaluation_interval": format_duration(self.interval),
            "firings": [f.as_json(self.since, self.until) for f in self.firings],
            "alerts": [s.as_json() for s in self.summaries],
            "pages": sum(f.severity == c.SEVERITY_PAGE for f in self.firings),
            "tickets": sum(f.severity == c.SEVERITY_TICKET for f in self.firings),
        }

    def text(self) -> str:
        from opgen.live.times import format_seconds

        lines = [f"Alerts from {format_time(self.since)} to {format_time(self.until)}, evaluated every "
                 f"{format_duration(self.interval)} over {self.prometheus}:"]
        for f in self.firings:
            end = format_time(f.end) if f.end is not None else "still firing"
            extra = " ".join(f"{k}={v}" for k, v in sorted(f.labels.items())
                             if k not in (c.LABEL_SERVICE, c.LABEL_SEVERITY, c.LABEL_TEAM, c.LABEL_TIER))
            before = " (firing since before --since)" if f.began_before else ""
            lines.append(f"  {format_time(f.start)} .. {end}  {f.severity or '-':<6} {f.service} {f.alert} {extra}{before}")
        if not self.firings:
            lines.append("  (no firings)")
        lines.append("")
        lines.append("Per alert:")
        for s in self.summaries:
            lines.append(f"  {s.service} {s.alert}: {s.pages} page(s), {s.tickets} ticket(s), firing {format_seconds(s.firing_seconds)}")
        pages = sum(f.severity == c.SEVERITY_PAGE for f in self.firings)
        lines.append(f"In all: {pages} page(s) and {sum(f.severity == c.SEVERITY_TICKET for f in self.firings)} ticket(s).")
        return "\n".join(lines) + "\n"
