"""`opgen report`: each SLO's SLI and error budget over its window (live.budget), for people and programs.

JSON is the data (numbers as numbers, ratios as fractions 0..1); text is for a terminal; Markdown
is a table for pull requests; HTML is one self-contained page with a budget burn-down chart (inline
SVG) per SLO, for reviews. The Markdown and HTML templates (templates/live/) escape every value.
"""

from __future__ import annotations

from dataclasses import dataclass

from opgen.descriptor.model import Service
from opgen.live.budget import SLOFigures
from opgen.live.times import format_seconds, format_time
from opgen.slo.numbers import format_number

FORMATS = ("text", "json", "markdown", "html")


@dataclass(frozen=True)
class Report:
    prometheus: str
    at: float
    services: tuple[tuple[Service, tuple[SLOFigures, ...]], ...]

    def as_json(self) -> dict:
        return {
            "prometheus": self.prometheus,
            "at": format_time(self.at),
            "services": [
                {"service": service.name, "team": service.team, "tier": service.tier,
                 "slos": [figures.as_json() for figures in slos]}
                for service, slos in self.services
            ],
        }


def percent(share: float | None, decimals: int = 1) -> str:
    return "-" if share is None else f"{share * 100:.{decimals}f}%"


def rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


@dataclass(frozen=True)
class Row:
    """One SLO's figures as people read them; the same words in every format."""

    service: str
    slo: str
    objective: str
    window: str
    sli: str
    spent: str
    left: str
    burn_1h: str
    burn_1d: str
    exhaustion: str
    status: str
    data: str
    counts: str


def rows(report: Report) -> list[Row]:
    result = []
    for service, slos in report.services:
        for f in slos:
            result.append(Row(
                service.name, f.slo.name, f"{format_number(f.slo.objective_percent)}%", f.slo.window,
                percent(f.sli, 4), percent(f.budget_spent), percent(f.budget_remaining), rate(f.burn_rate_1h),
                rate(f.burn_rate_1d), _exhaustion(f), f.status, _data(f),
                "-" if not f.has_data else f"{f.good:.0f} good of {f.total:.0f} {f.unit}",
            ))
    return result


def _exhaustion(f: SLOFigures) -> str:
    """What the last hour's burn rate means for the budget left, in words."""
    left = f.time_to_exhaustion
    if not f.has_data:
        return "no data"
    if left is None:
        return "it never runs out"
    return "it is gone already" if left == 0 else f"it is gone in {format_seconds(left)}"


def _data(f: SLOFigures) -> str:
    if f.first_sample is None:
        return "no data"
    text = f"{format_time(max(f.first_sample, f.window_start))} to {format_time(f.last_sample)}"
    if f.partial:
        gaps = f", {f.days_without_data} day(s) without data" if f.days_without_data else ""
        text += f" (partial{gaps})"
    return text


def text(report: Report) -> str:
    lines = [f"SLO report at {format_time(report.at)} from {report.prometheus}"]
    by_service: dict[str, list[Row]] = {}
    for row in rows(report):
        by_service.setdefault(row.service, []).append(row)
    for service, _ in report.services:
        lines.append("")
        lines.append(service.name)
        for row in by_service.get(service.name, []):
            lines.append(f"  {row.slo}: {row.status}, SLI {row.sli} (objective {row.objective} over {row.window}), "
                         f"budget spent {row.spent}, left {row.left}")
            lines.append(f"    burn rate 1h {row.burn_1h}, 1d {row.burn_1d}; at the 1h rate {row.exhaustion}")
            lines.append(f"    {row.counts}; data {row.data}")
        if not by_service.get(service.name):
            lines.append("  (no SLOs)")
    return "\n".join(lines) + "\n"


def markdown(report: Report) -> str:
    from opgen.render.templating import render_template

    return render_template("live/report.md.j2", at=format_time(report.at), prometheus=report.prometheus, rows=rows(report))


CHART_WIDTH, CHART_HEIGHT, CHART_MARGIN = 560, 180, (14, 16, 30, 52)  # top, right, bottom, left


def chart(f: SLOFigures) -> dict | None:
    """The burn-down chart of one SLO as numbers for the SVG: budget left over the window, against
    the straight line of a budget spent evenly."""
    points = f.burn_down()
    if not points:
        return None
    top, right, bottom, left = CHART_MARGIN
    low = min(0.0, min(share for _, share in points))
    span = f.at - f.window_start

    def x(t: float) -> float:
        return round(left + (t - f.window_start) / span * (CHART_WIDTH - left - right), 1)

    def y(share: float) -> float:
        return round(top + (1 - share) / (1 - low) * (CHART_HEIGHT - top - bottom), 1)

    return {
        "width": CHART_WIDTH, "height": CHART_HEIGHT, "left": left, "right": CHART_WIDTH - right,
        "line": " ".join(f"{x(t)},{y(share)}" for t, share in points),
        "even": f"{x(f.window_start)},{y(1)} {x(f.at)},{y(0)}",
        "y_full": y(1), "y_zero": y(0), "y_low": y(low), "low": percent(low, 0) if low < 0 else None,
        "x_start": x(f.window_start), "x_end": x(f.at),
        "start": format_time(f.window_start)[:10], "end": format_time(f.at)[:10],
    }


def html(report: Report) -> str:
    from opgen.render.templating import render_template

    charts = [chart(f) for _, slos in report.services for f in slos]
    return render_template("live/report.html.j2", at=format_time(report.at), prometheus=report.prometheus,
                           rows=list(zip(rows(report), charts)))


def formatted(report: Report, fmt: str) -> str:
    import json

    if fmt == "json":
        return json.dumps(report.as_json(), indent=2) + "\n"
    return {"text": text, "markdown": markdown, "html": html}[fmt](report)
