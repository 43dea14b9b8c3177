"""Journeys against their fleet: each step resolved to the SLO it names, and what is wrong with it.

A journey request succeeds only if every step does. Its error ratio over a window is taken as

    e_journey = 1 - prod(1 - e_i)

over the steps' error ratios e_i of that window: exact when steps fail independently, and an
upper bound when they fail together (a cascade makes the steps' failures positively correlated,
and then P(all succeed) >= prod P(step succeeds)). The sum of the e_i, the other usual bound, is
never lower and can pass 1; the product form never does, and is the same to first order. So the
journey's objective cannot exceed the product of its steps' objectives: above it, the journey
burns whenever every step meets its own objective exactly (a warning, with the arithmetic).

Pure data and functions: no disk, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import get_close_matches
from fractions import Fraction
from math import prod

from opgen.descriptor.journey import Journey, Step
from opgen.descriptor.model import SLO, Service
from opgen.errors import Problem
from opgen.fleet import percent_text


@dataclass(frozen=True)
class JourneyStep:
    service: Service
    slo: SLO


@dataclass(frozen=True)
class ResolvedJourney:
    """A journey whose steps are known SLOs of its fleet: what its files are made from."""

    journey: Journey
    steps: tuple[JourneyStep, ...]
    runbook_base_url: str | None = None  # where the fleet folder's runbooks/ is browsable (settings)

    @property
    def time_based(self) -> bool:
        return self.steps[0].slo.sli.time_based

    @property
    def ceiling_percent(self) -> Fraction:
        return prod((s.slo.objective for s in self.steps), start=Fraction(1)) * 100


def resolve(journey: Journey, services: dict[str, Service]) -> tuple[ResolvedJourney | None, list[Problem], list[Problem]]:
    """(the journey resolved, or None; its errors; its warnings). Errors: a step naming a service
    or SLO the fleet does not have, a step whose SLO's window is not the journey's (the journey
    reads the steps' recordings of its own windows, which such a step does not record), steps that
    mix request-based and time-based SLIs (a share of requests and a share of minutes do not
    multiply), a step named twice. Warning: an objective above the product of the steps'."""
    errors: list[Problem] = []
    steps: list[JourneyStep] = []
    seen: dict[tuple[str, str], Step] = {}
    for step in journey.steps:
        service = services.get(step.service)
        if service is None:
            errors.append(Problem(step.position, f"step names the service {step.service!r}, which no descriptor synced with "
                                                 f"this journey describes{_suggestion(step.service, services)}"))
            continue
        slo = next((s for s in service.slos if s.name == step.slo), None)
        if slo is None:
            names = [s.name for s in service.slos]
            errors.append(Problem(step.position, f"step names the SLO {step.slo!r} of {step.service!r}, which has no such SLO"
                                                 f"{_suggestion(step.slo, names)}"))
            continue
        if (step.service, step.slo) in seen:
            errors.append(Problem(step.position, f"step {step.service}/{step.slo} is already a step of this journey (line "
                                                 f"{seen[(step.service, step.slo)].position.line}); each SLO counts once"))
            continue
        seen[(step.service, step.slo)] = step
        if slo.window_seconds != journey.window_seconds:
            errors.append(Problem(step.position, (
                f"step {step.service}/{step.slo} has a {slo.window} window, the journey {journey.window}; a journey combines "
                f"its steps' recorded error ratios window by window, so every step's SLO must have the journey's window")))
            continue
        steps.append(JourneyStep(service, slo))
    kinds = {s.slo.sli.time_based for s in steps}
    if len(kinds) > 1:
        first = next(s for s in steps if s.slo.sli.time_based)
        errors.append(Problem(journey.steps[0].position, (
            f"steps mix request-based and time-based SLIs ({first.service.name}/{first.slo.name} is "
            f"{first.slo.sli.kind}, counted in minutes); a journey multiplies shares of the same kind of event")))
    if errors:
        return None, errors, []
    resolved = ResolvedJourney(journey, tuple(steps))
    warnings = []
    if journey.objective_percent > resolved.ceiling_percent:
        warnings.append(Problem(journey.objective_position, (
            f"journey {journey.name!r} promises {percent_text(journey.objective_percent)}, above the "
            f"{percent_text(resolved.ceiling_percent)} its steps allow ({ceiling_arithmetic(resolved)}): it burns its "
            f"budget while every step meets its own objective. Lower the objective, or raise the steps'")))
    for step, resolved_step in zip(journey.steps, steps):
        if resolved_step.slo.maintenance_excluded:
            warnings.append(Problem(step.position, (
                f"step {step.service}/{step.slo} leaves {step.service}'s planned maintenance out of its SLI "
                f"(maintenance: excluded), so the journey counts those minutes as good in its budget and its 5m window "
                f"(its 30m to 6h windows still see them), though users cannot finish the journey then; keep the step's "
                f"default (maintenance: counts) for an SLO a journey reads")))
    return resolved, [], warnings


def _suggestion(word: str, names) -> str:
    """` (did you mean 'cart'?)` for a close name, else the names there are (a fleet's: up to 10)."""
    close = get_close_matches(word, sorted(names), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    shown = sorted(names)
    return f" (there are: {', '.join(shown[:10])}{', ...' if len(shown) > 10 else ''})" if shown else " (there are none)"


def ceiling_arithmetic(journey: ResolvedJourney, times: str = "x", about: str = "~") -> str:
    """`web-frontend/availability 99.9% x cart/availability 99.9% ~ 99.8%`."""
    factors = f" {times} ".join(f"{s.service.name}/{s.slo.name} {percent_text(s.slo.objective_percent)}" for s in journey.steps)
    product = percent_text(journey.ceiling_percent, about)
    return f"{factors} {f'{about} ' + product.removeprefix(about) if product.startswith(about) else '= ' + product}"
