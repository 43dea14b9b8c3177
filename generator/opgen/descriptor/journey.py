"""The opgen/v1 journey document (`kind: Journey`), declared once like the service descriptor.

Users feel journeys (browse, add to cart, pay), not services: a journey names the SLOs of the
services a request passes through, and gets an objective of its own (docs/fleet.md, "Journey
SLOs"). It is found by the same fleet search as service descriptors (`*.opgen.yaml`), parsed with
positions, and checked against the services synced with it (opgen/journeys.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from opgen.descriptor.checks import check_slo_window
from opgen.descriptor.fields import INVALID, Context, Field, ListOf, Object, Percentage, String, const_field
from opgen.descriptor.source import Source, parse_yaml
from opgen.descriptor.spec import API_VERSION, DNS_LABEL, ONCALL, SLUG
from opgen.errors import DescriptorError, Position
from opgen.slo.durations import parse_duration
from opgen.slo.numbers import to_fraction

JOURNEY_KIND = "Journey"

STEP = Object(
    (
        Field("service", String(pattern=DNS_LABEL, pattern_hint="a service name (metadata.name of a descriptor in the fleet)"),
              "The service this step of the journey passes through.", required=True, example="cart"),
        Field("slo", String(pattern=SLUG, max_length=40, pattern_hint="an SLO name of that service"),
              "The SLO of that service that this step counts: a request of the journey fails at this step when "
              "it is a bad event of that SLO.", required=True, example="availability"),
    ),
)

JOURNEY_METADATA = Object(
    (
        Field("name", String(pattern=DNS_LABEL, pattern_hint="a DNS label: lower-case letters, digits and '-', starting with a letter"),
              "Journey name: the `journey` label and the file names under journeys/ in the fleet folder.",
              required=True, example="checkout"),
        Field("team", String(pattern=SLUG, max_length=63, pattern_hint="lower-case words joined by '-'"),
              "Owning team: the `team` label on the journey's alerts, which Alertmanager routes on.",
              required=True, example="storefront"),
        Field("description", String(max_length=500), "What the user does, in user terms; shown in the runbook.",
              default="", example="Browse, add to cart, pay."),
        Field("oncall", ONCALL, "On-call contacts, used when no service of the team in the fleet names any."),
    ),
    doc="Who owns the journey.",
)

JOURNEY_SPEC = Object(
    (
        Field("objective", Percentage(0, 100, exclusive=True),
              "Target percentage of journeys that succeed at every step, 0 < x < 100; at most the product of the "
              "steps' objectives (else a warning).", required=True, example=99.5),
        Field("window", String(check=check_slo_window, type_label="duration (days)"),
              "Compliance window; every step's SLO must have the same one.", default="30d", example="30d"),
        Field("steps", ListOf(STEP, max_items=20), "The SLOs a journey passes through, in the order a user meets them.",
              required=True, example=[{"service": "web-frontend", "slo": "availability"}, {"service": "cart", "slo": "availability"}]),
    ),
    doc="The journey's objective and the steps it is made of.",
)

JOURNEY = Object(
    (
        const_field("apiVersion", API_VERSION, "Document format version."),
        const_field("kind", JOURNEY_KIND, "Document kind."),
        Field("metadata", JOURNEY_METADATA, "Who owns the journey.", required=True),
        Field("spec", JOURNEY_SPEC, "What the journey promises.", required=True),
    ),
    doc="A user journey over the SLOs of several services of a fleet.",
)


@dataclass(frozen=True)
class Step:
    service: str
    slo: str
    position: Position  # of the step in its file, for problems found against the fleet


@dataclass(frozen=True)
class Journey:
    name: str
    team: str
    description: str
    slack: str | None
    pagerduty_service_id: str | None
    objective_percent: Fraction
    window: str  # 30d
    steps: tuple[Step, ...]
    file: str  # as shown in problems
    name_position: Position
    objective_position: Position
    window_position: Position
    source: str  # its text: what its files are made from

    @property
    def window_seconds(self) -> Fraction:
        return parse_duration(self.window)

    @property
    def error_budget(self) -> Fraction:
        return 1 - self.objective_percent / 100


_KIND_LINE = re.compile(rb"^kind[ \t]*:[ \t]*[\"']?" + JOURNEY_KIND.encode() + rb"[\"']?[ \t]*(?:#.*)?$", re.MULTILINE)


def is_journey(raw: bytes) -> bool:
    """Whether a `*.opgen.yaml` file is a journey (a top-level `kind: Journey` line), before it is
    parsed: the fleet search finds both kinds, and a service descriptor is parsed as one."""
    return _KIND_LINE.search(raw) is not None


def parse_journey(raw: bytes, shown: str) -> Journey:
    """The journey of one document; DescriptorError with every problem (file:line:column)."""
    source = parse_yaml(raw, shown)
    ctx = Context(source)
    data = JOURNEY.validate(source.data, (), ctx)
    if ctx.problems or data is INVALID:
        raise DescriptorError(list(ctx.problems))
    return build_journey(data, source, raw.decode("utf-8"))


def build_journey(data: dict, source: Source, text: str) -> Journey:
    meta, spec = data["metadata"], data["spec"]
    oncall = meta.get("oncall", {})
    steps = tuple(Step(s["service"], s["slo"], source.position(("spec", "steps", i))) for i, s in enumerate(spec["steps"]))
    return Journey(meta["name"], meta["team"], meta["description"], oncall.get("slack"), oncall.get("pagerduty_service_id"),
                   to_fraction(spec["objective"]), spec["window"], steps, source.file,
                   source.position(("metadata", "name")), source.position(("spec", "objective")),
                   source.position(("spec", "window")), text)
