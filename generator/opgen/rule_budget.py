"""The rule budget: how many rules, groups and recorded series a fleet's rules make, in the layout
its rules format loads, against the limits of the ruler that loads them.

Mimir's ruler refuses a tenant with more than 70 rule groups or a group with more than 20 rules
(`-ruler.max-rule-groups-per-tenant`, `-ruler.max-rules-per-rule-group`; Cortex and Prometheus
have no such default). `opgen sync` fails before writing when the rules cannot fit, and
`opgen rules-stats` shows the budget before a deploy. Limits come from the `ruler` mapping of
opgen-settings.yaml (descriptor/blueprints.py), else the defaults of the rules format.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

from opgen.descriptor.journey import Journey
from opgen.descriptor.model import Service

JOURNEY_PREFIX = "journey "  # a journey's budget stands beside the services' under this name (never a service's: no spaces)
MIMIR_LIMITS = {"max_rules_per_rule_group": 20, "max_rule_groups_per_tenant": 70}
RULER_FLAGS = {"max_rules_per_rule_group": "-ruler.max-rules-per-rule-group",
               "max_rule_groups_per_tenant": "-ruler.max-rule-groups-per-tenant"}


@dataclass(frozen=True)
class Limits:
    max_rules_per_rule_group: int | None  # None: no limit
    max_rule_groups_per_tenant: int | None
    tenant: str  # "fleet" (every service synced together) or "team"


def limits_for(rules_format: str, ruler: dict | None) -> Limits:
    """The limits that apply: the settings' `ruler` over the format's defaults (Mimir's for mimir,
    none for plain Prometheus rule files and PrometheusRules)."""
    chosen = {**(MIMIR_LIMITS if rules_format == "mimir" else {}), **(ruler or {})}
    return Limits(chosen.get("max_rules_per_rule_group"), chosen.get("max_rule_groups_per_tenant"),
                  chosen.get("tenant", "fleet"))


@dataclass(frozen=True)
class ServiceBudget:
    name: str
    team: str
    rules_format: str
    slos: int
    groups: int
    recording_rules: int
    alerting_rules: int
    recorded_series: int  # series the recording rules write: one per rule and SLO it covers
    largest_group: str
    largest_group_rules: int
    rules_per_slo: int  # the most rules one of its SLOs adds (with the `slo` label)

    @property
    def rules(self) -> int:
        return self.recording_rules + self.alerting_rules

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> ServiceBudget:
        return cls(**{name: type_(data[name]) for name, type_ in _BUDGET_FIELDS.items()})


_BUDGET_FIELDS = {"name": str, "team": str, "rules_format": str, "slos": int, "groups": int, "recording_rules": int,
                  "alerting_rules": int, "recorded_series": int, "largest_group": str, "largest_group_rules": int,
                  "rules_per_slo": int}


def service_budget(service: Service, rules_format: str) -> ServiceBudget:
    """The service's rules as the ruler of `rules_format` loads them."""
    from opgen import conventions as c
    from opgen.render.rule_formats import groups_for_format

    groups = groups_for_format(service, rules_format)
    rules = [rule for group in groups for rule in group["rules"]]
    records = [rule for rule in rules if "record" in rule]
    largest = max(groups, key=lambda g: len(g["rules"]))
    # A rule without an `slo` label records one series per SLO (the per-service constants).
    series = sum(1 if c.LABEL_SLO in rule.get("labels", {}) else len(service.slos) for rule in records)
    per_slo = Counter(rule["labels"][c.LABEL_SLO] for rule in rules if c.LABEL_SLO in rule.get("labels", {}))
    return ServiceBudget(service.name, service.team, rules_format, len(service.slos), len(groups), len(records),
                         len(rules) - len(records), series, largest["name"], len(largest["rules"]),
                         max(per_slo.values(), default=0))


def journey_budget(journey: Journey, rules_format: str) -> ServiceBudget:
    """A journey's rules (render/journeys.py rule_groups) as its team's ruler loads them, counted
    from its window alone: a recording per window, a burn alert per window pair, and the ticket
    for a step whose rules are missing, in three groups."""
    from opgen.slo.windows import long_windows, raw_windows, window_pairs

    window = journey.window_seconds
    from opgen import conventions as c

    groups = {c.journey_rule_group(journey.name, "recordings"): len(raw_windows(window)),
              c.journey_rule_group(journey.name, "long-windows"): len(long_windows(window)),
              c.journey_rule_group(journey.name, "alerts"): len(window_pairs(window)) + 1}
    largest = max(groups, key=lambda name: (groups[name], name))
    recordings = len(raw_windows(window)) + len(long_windows(window))
    return ServiceBudget(f"{JOURNEY_PREFIX}{journey.name}", journey.team, rules_format, 1, len(groups), recordings,
                         groups[c.journey_rule_group(journey.name, "alerts")], recordings, largest, groups[largest],
                         sum(groups.values()))


@dataclass(frozen=True)
class Tenant:
    name: str  # "fleet", or the team's name
    rules_format: str
    limits: Limits
    services: tuple[ServiceBudget, ...]

    @property
    def groups(self) -> int:
        return sum(s.groups for s in self.services)

    @property
    def rules(self) -> int:
        return sum(s.rules for s in self.services)

    @property
    def recorded_series(self) -> int:
        return sum(s.recorded_series for s in self.services)

    @property
    def largest_group(self) -> ServiceBudget:
        return max(self.services, key=lambda s: (s.largest_group_rules, s.name))

    def problems(self) -> list[str]:
        """What exceeds a limit, with the figures."""
        limits, found = self.limits, []
        journeys = sum(1 for s in self.services if s.name.startswith(JOURNEY_PREFIX))
        members = f"{len(self.services) - journeys} services" + (f", {journeys} journey{'s' if journeys != 1 else ''}" if journeys else "")
        where = f"tenant {self.name!r} ({self.rules_format}, {members})"
        if limits.max_rule_groups_per_tenant is not None and self.groups > limits.max_rule_groups_per_tenant:
            found.append(f"{where}: {self.groups} rule groups, over the limit of {limits.max_rule_groups_per_tenant} "
                         f"(max_rule_groups_per_tenant)")
        biggest = self.largest_group
        if limits.max_rules_per_rule_group is not None and biggest.largest_group_rules > limits.max_rules_per_rule_group:
            found.append(f"{where}: group {biggest.largest_group!r} has {biggest.largest_group_rules} rules, over the "
                         f"limit of {limits.max_rules_per_rule_group} (max_rules_per_rule_group)")
        return found

    def as_json(self) -> dict:
        return {"tenant": self.name, "rules_format": self.rules_format,
                "limits": {k: v for k, v in asdict(self.limits).items() if k != "tenant"},
                "groups": self.groups, "rules": self.rules, "recorded_series": self.recorded_series,
                "fits": not self.problems(), "problems": self.problems(),
                "services": [{**asdict(s), "rules": s.rules} for s in self.services]}


def tenants(budgets: list[ServiceBudget], ruler: dict | None) -> list[Tenant]:
    """The services split into the tenants that load them: by rules format, then by team when the
    settings say a tenant per team."""
    result = []
    for rules_format in sorted({b.rules_format for b in budgets}):
        limits = limits_for(rules_format, ruler)
        members = sorted((b for b in budgets if b.rules_format == rules_format), key=lambda b: b.name)
        names = sorted({b.team for b in members}) if limits.tenant == "team" else ["fleet"]
        for name in names:
            mine = tuple(b for b in members if limits.tenant != "team" or b.team == name)
            result.append(Tenant(name, rules_format, limits, mine))
    return result


def options(over: list[Tenant]) -> list[str]:
    """What a team can do when its rules do not fit: the figures each option needs."""
    lines = []
    groups = max((t for t in over if t.limits.max_rule_groups_per_tenant is not None), key=lambda t: t.groups, default=None)
    if groups is not None:
        flag = (f"{RULER_FLAGS['max_rule_groups_per_tenant']}={groups.groups} (or the tenant's override)"
                if groups.rules_format == "mimir" else "the same limit")
        lines.append(f"raise the limit: `ruler: {{max_rule_groups_per_tenant: {groups.groups}}}` in opgen-settings.yaml, "
                     f"and {flag} in the ruler")
        if groups.limits.tenant != "team":
            teams: dict[str, int] = {}
            for service in groups.services:
                teams[service.team] = teams.get(service.team, 0) + service.groups
            team, most = max(teams.items(), key=lambda kv: (kv[1], kv[0]))
            fits = "fits" if most <= groups.limits.max_rule_groups_per_tenant else "still does not fit"
            lines.append(f"a tenant per team: `ruler: {{tenant: team}}` (the largest, {team!r}, has {most} groups: {fits}); "
                         + ("load each mimir/<team>.rules.yaml with its own `mimirtool rules load --id`"
                            if groups.rules_format == "mimir" else "one ruler per team"))
        per_slo = max(groups.services, key=lambda s: (s.rules, s.name))
        lines.append(f"fewer rules: an SLO adds up to {per_slo.rules_per_slo} rules; the largest service, {per_slo.name!r}, "
                     f"has {per_slo.rules} rules in {per_slo.groups} groups (fewer SLOs or dependencies, or services in "
                     f"another fleet)")
    rules = next((t for t in over if t.limits.max_rules_per_rule_group is not None
                  and t.largest_group.largest_group_rules > t.limits.max_rules_per_rule_group), None)
    if rules is not None:
        lines.append(f"raise the rules-per-group limit to {rules.largest_group.largest_group_rules}: opgen lays out "
                     f"groups of up to 20 rules, mixtool's and Mimir's default "
                     f"({RULER_FLAGS['max_rules_per_rule_group']})")
    return lines



def text_report(found: list[Tenant]) -> str:
    """The budget as a table per tenant, for a terminal."""
    lines = []
    for tenant in found:
        limits = tenant.limits
        shown = ", ".join(f"{value} {text}" for value, text in (
            (limits.max_rules_per_rule_group, "rules per group"), (limits.max_rule_groups_per_tenant, "groups per tenant"))
            if value is not None) or "no limits"
        lines.append(f"tenant {tenant.name!r} ({tenant.rules_format}; {shown})")
        header = ("service", "team", "SLOs", "groups", "rules", "recording", "alerting", "series", "largest group")
        rows = [header] + [(s.name, s.team, s.slos, s.groups, s.rules, s.recording_rules, s.alerting_rules, s.recorded_series,
                            f"{s.largest_group} ({s.largest_group_rules})") for s in tenant.services]
        rows.append(("total", "", sum(s.slos for s in tenant.services), tenant.groups, tenant.rules,
                     sum(s.recording_rules for s in tenant.services), sum(s.alerting_rules for s in tenant.services),
                     tenant.recorded_series, ""))
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
        for row in rows:
            cells = [str(v).ljust(w) if i in (0, 1, 8) else str(v).rjust(w) for i, (v, w) in enumerate(zip(row, widths))]
            lines.append("  " + "  ".join(cells).rstrip())
        lines += [f"  over: {problem}" for problem in tenant.problems()] or ["  fits"]
    return "\n".join(lines) + "\n"
