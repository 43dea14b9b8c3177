"""The service as the generators see it: frozen, typed, defaults resolved, no YAML in sight."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from opgen.slo.durations import format_duration, parse_duration
from opgen.slo.numbers import to_fraction

REQUEST_INTERFACES = ("http", "grpc", "queue-consumer")
# SLIs measured per minute of time rather than per event (cron jobs emit no request stream).
TIME_BASED_SLI_KINDS = ("job-success", "job-on-time")
# The interface each interface-bound SLI kind needs.
SLI_INTERFACE = {"freshness": "queue-consumer", "job-success": "cron", "job-on-time": "cron"}


@dataclass(frozen=True)
class Probe:
    """Synthetic traffic for an HTTP interface (render/blackbox_probe.py)."""

    path: str
    interval_seconds: Fraction
    url: str | None  # None: the Kubernetes service name (conventions.probe_url)
    exporter: str  # host:port of the blackbox exporter

    @property
    def requests_per_second(self) -> Fraction:
        return 1 / self.interval_seconds


@dataclass(frozen=True)
class Interface:
    kind: str
    port: int | None = None
    probe: Probe | None = None


@dataclass(frozen=True)
class SLI:
    kind: str  # availability | latency | freshness | job-success | job-on-time | events
    interface: str | None = None  # the interface whose metrics it reads; None for events
    threshold_seconds: Fraction | None = None  # latency, freshness, job-on-time
    errors_promql: str | None = None  # events only; contains {{window}}
    total_promql: str | None = None

    @property
    def time_based(self) -> bool:
        """Counts good minutes rather than good events."""
        return self.kind in TIME_BASED_SLI_KINDS


@dataclass(frozen=True)
class SLO:
    name: str
    objective_percent: Fraction
    window_seconds: Fraction
    description: str
    sli: SLI
    pages: bool = True  # whether a fast burn pages; False: every burn alert is a ticket
    min_bad_events: int | None = None  # alerting.min_bad_events; None: derived (alerts.page_min_bad_events)
    previous_names: tuple[str, ...] = ()  # older names whose recorded history still counts
    maintenance_excluded: bool = False  # whether the SLI leaves the service's maintenance windows out

    @property
    def names(self) -> tuple[str, ...]:
        """Its name and every previous one: the `slo` label values its history is recorded under."""
        return (self.name, *self.previous_names)

    @property
    def objective(self) -> Fraction:
        """The objective as a ratio: 99.9 % -> 0.999."""
        return self.objective_percent / 100

    @property
    def error_budget(self) -> Fraction:
        """The share of events allowed to be bad: 99.9 % -> 0.001."""
        return 1 - self.objective

    @property
    def window(self) -> str:
        return format_duration(self.window_seconds)


@dataclass(frozen=True)
class Dependency:
    name: str
    kind: str
    critical: bool = False
    service: str | None = None
    auth: bool = False  # reaching it takes credentials (a KEDA TriggerAuthentication)
    fallback: bool = False  # the service degrades gracefully without it: it does not bound the availability ceiling
    # Alert thresholds, set by build_service (defaults by kind in conventions); None in the fleet's
    # facts (fleet.py), which know the graph only.
    error_ratio_threshold: Fraction | None = None  # share of failed calls
    latency_threshold_seconds: Fraction | None = None  # p99 of calls


@dataclass(frozen=True)
class MaintenanceWindow:
    """A window of planned maintenance: weekly on `days`, or once on `date`. Times are HH:MM in
    the maintenance's time zone; an end at or before the start is on the next day."""

    start: str
    end: str
    days: tuple[str, ...] = ()  # weekly: the days it starts on
    date: str | None = None  # one-off: YYYY-MM-DD


@dataclass(frozen=True)
class Maintenance:
    time_zone: str
    windows: tuple[MaintenanceWindow, ...]  # weekly ones first, as declared

    def to_json(self) -> list:
        return [self.time_zone, [[list(w.days), w.date, w.start, w.end] for w in self.windows]]

    @classmethod
    def from_json(cls, data: list) -> Maintenance:
        zone, windows = data
        return cls(str(zone), tuple(MaintenanceWindow(str(s), str(e), tuple(map(str, d)), None if t is None else str(t))
                                    for d, t, s, e in windows))


@dataclass(frozen=True)
class Traffic:
    baseline_rps: float | None = None
    peak_rps: float | None = None
    per_instance_rps: float | None = None


@dataclass(frozen=True)
class GPU:
    count: int
    model: str | None = None
    hourly_cost_usd: float | None = None


@dataclass(frozen=True)
class Scaling:
    min_replicas: int | None = None
    max_replicas: int | None = None
    target_cpu_utilization: int | None = None
    from_blueprint: frozenset[str] = frozenset()  # the fields above that the blueprint set, not the descriptor

    def own(self, field: str) -> int | None:
        """The descriptor's own value of `field`, or None."""
        return None if field in self.from_blueprint else getattr(self, field)

    def blueprint_default(self, field: str) -> int | None:
        """The blueprint's value of `field`, when the descriptor does not set it, or None."""
        return getattr(self, field) if field in self.from_blueprint else None


# How much of the budget may go before `opgen gate` warns, by tier: the more critical the service,
# the earlier people hear that its budget is going (the block stays at 100 % unless declared).
WARN_AT_PERCENT_BY_TIER = {1: 50, 2: 75, 3: 90, 4: 90}


@dataclass(frozen=True)
class ErrorBudgetPolicy:
    """spec.error_budget_policy, with the tier's defaults: what `opgen gate` blocks and warns about."""

    block_at_percent: Fraction  # of the SLO window's error budget spent
    warn_at_percent: Fraction
    slos: tuple[str, ...]  # the SLOs it judges
    override_by: tuple[str, ...]  # who may let a blocked deploy go


@dataclass(frozen=True)
class Service:
    name: str
    team: str
    tier: int
    description: str
    descriptor_path: str  # as given on the command line, for messages
    slack: str | None
    pagerduty_service_id: str | None
    runbook_base_url: str | None
    grafana_url: str | None
    blueprint: str | None
    platform: str
    namespace: str
    language: str
    interfaces: tuple[Interface, ...]
    selector: str
    metrics_port: int
    traffic: Traffic
    slos: tuple[SLO, ...]
    dependencies: tuple[Dependency, ...]
    scaling: Scaling
    monthly_budget_usd: float | None
    gpu: GPU | None = None
    system: str | None = None  # a declared Backstage System
    error_budget_policy: ErrorBudgetPolicy | None = None  # always set by build_service
    maintenance: Maintenance | None = None  # planned maintenance windows
    buckets: dict[str, tuple[Fraction, ...]] = field(default_factory=dict)  # prometheus.buckets, by histogram key
    cluster_label: str | None = None  # opgen-settings.yaml `clusters.label`: rules per cluster and global

    @property
    def is_cron_job(self) -> bool:
        """Runs on a schedule and serves nothing: no replicas to scale, no target to scrape."""
        return bool(self.interfaces) and all(i.kind == "cron" for i in self.interfaces)


def build_service(data: dict[str, Any], descriptor_path: str) -> Service:
    """Map validated descriptor data onto the model (defaults that depend on other fields live here)."""
    meta, spec = data["metadata"], data["spec"]
    oncall, links = meta.get("oncall", {}), meta.get("links", {})
    runtime = spec["runtime"]
    interfaces = tuple(Interface(i["kind"], i.get("port"), _probe(i["probe"]) if "probe" in i else None)
                       for i in spec["interfaces"])
    return Service(
        name=meta["name"],
        team=meta["team"],
        tier=meta["tier"],
        description=meta["description"],
        descriptor_path=descriptor_path,
        slack=oncall.get("slack"),
        pagerduty_service_id=oncall.get("pagerduty_service_id"),
        runbook_base_url=links.get("runbook_base_url"),
        grafana_url=links.get("grafana_url"),
        blueprint=spec.get("blueprint"),
        platform=runtime["platform"],
        namespace=runtime.get("namespace", meta["name"]),
        language=runtime["language"],
        interfaces=interfaces,
        selector=spec["prometheus"].get("selector", f'job="{meta["name"]}"'),
        metrics_port=spec["prometheus"]["metrics_port"],
        traffic=Traffic(**spec.get("traffic", {})),
        slos=tuple(_slo(s, interfaces, meta["tier"]) for s in spec["slos"]),
        dependencies=tuple(_dependency(d) for d in spec["dependencies"]),
        scaling=Scaling(**spec.get("scaling", {})),
        monthly_budget_usd=spec.get("cost", {}).get("monthly_budget_usd"),
        gpu=GPU(**spec["resources"]["gpu"]) if "gpu" in spec.get("resources", {}) else None,
        system=meta.get("system"),
        error_budget_policy=_error_budget_policy(spec.get("error_budget_policy", {}), meta, spec["slos"]),
        maintenance=_maintenance(spec["maintenance"]) if "maintenance" in spec else None,
        buckets={key: tuple(sorted({parse_duration(b) for b in bounds}))
                 for key, bounds in spec["prometheus"].get("buckets", {}).items()},
    )


def _error_budget_policy(raw: dict[str, Any], meta: dict[str, Any], slos: list[dict[str, Any]]) -> ErrorBudgetPolicy:
    block_at = to_fraction(raw.get("block_at", 100))
    warn_at = to_fraction(raw["warn_at"]) if "warn_at" in raw else min(Fraction(WARN_AT_PERCENT_BY_TIER[meta["tier"]]), block_at)
    return ErrorBudgetPolicy(block_at, warn_at, tuple(raw.get("slos", [s["name"] for s in slos])),
                             tuple(raw.get("override_by", [meta["team"]])))


def _maintenance(raw: dict[str, Any]) -> Maintenance | None:
    windows = tuple(MaintenanceWindow(w["start"], w["end"], days=tuple(dict.fromkeys(w["days"]))) for w in raw["weekly"])
    windows += tuple(MaintenanceWindow(w["start"], w["end"], date=w["date"]) for w in raw["dates"])
    return Maintenance(raw["time_zone"], windows) if windows else None


def default_request_interface(interfaces: tuple[Interface, ...]) -> str | None:
    return next((i.kind for i in interfaces if i.kind in REQUEST_INTERFACES), None)


def _probe(raw: dict[str, Any]) -> Probe:
    return Probe(raw["path"], parse_duration(raw["interval"]), raw.get("url"), raw["exporter"])


def _dependency(raw: dict[str, Any]) -> Dependency:
    from opgen.conventions import DEPENDENCY_ERROR_RATIO_THRESHOLD, DEPENDENCY_METRICS

    error = to_fraction(raw["error_threshold"]) / 100 if "error_threshold" in raw else DEPENDENCY_ERROR_RATIO_THRESHOLD
    latency = (parse_duration(raw["latency_threshold"]) if "latency_threshold" in raw
               else DEPENDENCY_METRICS[raw["kind"]].latency_threshold_seconds)
    return Dependency(raw["name"], raw["kind"], raw["critical"], raw.get("service"), auth=raw["auth"], fallback=raw["fallback"],
                      error_ratio_threshold=error, latency_threshold_seconds=latency)


def pages_by_default(sli_kind: str, tier: int) -> bool:
    """One failed run of a scheduled job is fixed or rerun the same day (the cron-job blueprint):
    its job-success SLO pages only at tier 1. A missed deadline pages through job-on-time."""
    return sli_kind != "job-success" or tier == 1


def _slo(raw: dict[str, Any], interfaces: tuple[Interface, ...], tier: int) -> SLO:
    sli_raw = raw["sli"]
    kind = sli_raw["kind"]
    if kind == "events":
        sli = SLI(kind, errors_promql=sli_raw["errors"], total_promql=sli_raw["total"])
    else:
        threshold = parse_duration(sli_raw["threshold"]) if "threshold" in sli_raw else None
        interface = SLI_INTERFACE.get(kind) or sli_raw.get("interface") or default_request_interface(interfaces)
        sli = SLI(kind, interface, threshold)
    alerting = raw.get("alerting", {})
    return SLO(
        name=raw["name"],
        objective_percent=to_fraction(raw["objective"]),
        window_seconds=parse_duration(raw["window"]),
        description=raw["description"],
        sli=sli,
        pages=alerting.get("page", pages_by_default(kind, tier)),
        min_bad_events=alerting.get("min_bad_events"),
        previous_names=tuple(raw["previous_names"]),
        maintenance_excluded=raw["maintenance"] == "excluded",
    )
