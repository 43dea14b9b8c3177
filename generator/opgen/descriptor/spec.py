"""The opgen/v1 service descriptor, declared once.

Adding a field: declare it here (type, default, doc, example), read it in model.py.
Validation, `opgen schema` and the table in docs/descriptor.md all follow from this file.
"""

from __future__ import annotations

from opgen.conventions import MESSAGE_AGE, REQUEST_METRICS
from opgen.descriptor.checks import (
    check_date, check_duration, check_events_promql, check_selector, check_slo_window, check_time_of_day, check_time_zone,
    check_url,
)
from opgen.descriptor.fields import (
    Boolean,
    Choice,
    Field,
    ListOf,
    Number,
    Object,
    Percentage,
    String,
    Variants,
    const_field,
)

# Bounds no real service reaches, so the capacity arithmetic stays exact (a peak of 1e30 rps was a crash).
MAX_RPS = 10_000_000
MAX_USD = 1_000_000_000

API_VERSION = "opgen/v1"
DNS_LABEL = r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?"
SLUG = r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"

PLATFORMS = ("kubernetes", "ecs", "lambda")
LANGUAGES = ("python", "go", "java", "node", "other")
INTERFACE_KINDS = ("http", "grpc", "queue-consumer", "cron")
DEPENDENCY_KINDS = ("postgres", "mysql", "redis", "kafka", "rabbitmq", "sqs", "http", "grpc", "s3")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

ONCALL = Object(
    (
        Field("slack", String(pattern=r"#[a-z0-9._-]{1,80}", pattern_hint="a Slack channel like #payments-oncall"),
              "Slack channel for tickets and questions.", example="#payments-oncall"),
        Field("pagerduty_service_id", String(pattern=r"[A-Z0-9]{4,20}", pattern_hint="a PagerDuty service id like PABC123"),
              "PagerDuty service that page-severity alerts go to.", example="PABC123"),
    ),
    doc="Who answers alerts.",
)

LINKS = Object(
    (
        Field("runbook_base_url", String(check=check_url, json_format="uri", type_label="URL"),
              "Where the generated ops/runbooks folder is browsable; runbook_url annotations start here. "
              "Without it they are paths relative to the repository.",
              example="https://git.example.com/shop/tree/main/ops/runbooks"),
        Field("grafana_url", String(check=check_url, json_format="uri", type_label="URL"),
              "Grafana base URL; alerts then carry a dashboard_url.", example="https://grafana.example.com"),
    ),
    doc="Where people find the generated runbooks and dashboards.",
)

METADATA = Object(
    (
        Field("name", String(pattern=DNS_LABEL, pattern_hint="a DNS label: lower-case letters, digits and '-', starting with a letter, not ending with '-', at most 63 characters"),
              "Service name: used in file names, the `service` label and the default job selector.",
              required=True, example="checkout"),
        Field("team", String(pattern=SLUG, max_length=63, pattern_hint="lower-case words joined by '-', like payments or core-platform"),
              "Owning team: the `team` label on every rule, used for alert routing.", required=True, example="payments"),
        Field("tier", Number(1, 4, integer=True), "Criticality from 1 (most critical) to 4.", default=2, example=1),
        Field("description", String(max_length=500), "One or two sentences on what the service does; shown in runbooks.",
              default="", example="Takes the cart, charges the card, creates the order."),
        Field("oncall", ONCALL, "On-call contacts."),
        Field("links", LINKS, "Links used in alert annotations."),
        Field("system", String(pattern=DNS_LABEL, pattern_hint="a DNS label"),
              "The Backstage System entity the service belongs to (its catalog entry's spec.system); "
              "only when that System is declared in the catalog.", example="shop"),
    ),
    doc="Who and what the service is.",
)

RUNTIME = Object(
    (
        Field("platform", Choice(PLATFORMS), "Where the service runs.", default="kubernetes"),
        Field("namespace", String(pattern=DNS_LABEL, pattern_hint="a DNS label"),
              "Kubernetes namespace (or ECS cluster) it runs in.", default_text="metadata.name", example="shop"),
        Field("language", Choice(LANGUAGES), "Implementation language: python, go and node get an instrumentation "
              "stub (ops/otel/); java and other get the metric contract in the runbook overview, and a warning.",
              default="python"),
    ),
    doc="Where and how the service runs.",
)

PROBE = Object(
    (
        Field("path", String(pattern=r"/[A-Za-z0-9._~/?&=%+-]*", max_length=200, pattern_hint="a URL path like /healthz"),
              "Path the probe requests; its answers count in the SLIs like any request, so pick one that exercises "
              "the service.", default="/", example="/healthz"),
        Field("interval", String(check=check_duration, type_label="duration"),
              "How often the probe requests it (the scrape interval of the probe job).", default="15s", example="10s"),
        Field("url", String(check=check_url, json_format="uri", type_label="URL"),
              "Full URL to probe, when the service is not reachable at its Kubernetes service name.",
              default_text="http://<metadata.name>.<runtime.namespace>.svc:<port><path>", example="https://checkout.example.com/healthz"),
        Field("exporter", String(pattern=r"[A-Za-z0-9.-]+:[0-9]{1,5}", max_length=253, pattern_hint="host:port of a blackbox exporter"),
              "The blackbox exporter Prometheus asks to probe.", default="blackbox-exporter:9115", example="blackbox-exporter.monitoring:9115"),
    ),
    doc="Synthetic traffic: a blackbox-exporter module and Prometheus scrape job that request the interface "
        "every `interval` (HTTP only). For quiet services, where one failed request spends much of the budget.",
)

INTERFACE = Object(
    (
        Field("kind", Choice(INTERFACE_KINDS), "What the service serves.", required=True, example="http"),
        Field("port", Number(1, 65535, integer=True), "Port it listens on.", example=8080),
        Field("probe", PROBE, "Synthetic traffic for this interface (http only)."),
    ),
)

def _buckets(key: str, histogram: str, example: list[str]) -> Field:
    return Field(key, ListOf(String(check=check_duration, type_label="duration"), max_items=60),
                 f"Bucket boundaries (`le`) of {histogram}, as durations.", example=example)


_REQUEST_EXAMPLE = ["100ms", "250ms", "500ms", "1s", "2500ms"]
BUCKETS = Object(
    (
        *(_buckets(kind, REQUEST_METRICS[kind].histogram, _REQUEST_EXAMPLE) for kind in INTERFACE_KINDS[:3]),
        _buckets("message-age", f"{MESSAGE_AGE.histogram} (a queue consumer's freshness SLIs)", ["10s", "30s", "60s", "300s"]),
    ),
    doc="The buckets of each request-duration histogram (by interface kind) and of the message-age histogram. "
        "A latency or freshness threshold must be one of them; opgen's generated instrumentation uses these "
        "and adds every threshold.",
)

PROMETHEUS = Object(
    (
        Field("selector", String(check=check_selector, max_length=500, type_label="PromQL label matchers"),
              "Label matchers that select the service's series, without braces.",
              default_text='job="<metadata.name>"', example='job="checkout"'),
        Field("metrics_port", Number(1, 65535, integer=True),
              "Port where the generated instrumentation serves /metrics (env OPGEN_METRICS_PORT overrides).",
              default=9464, example=9464),
        Field("buckets", BUCKETS, "Histogram bucket boundaries the service exports, when it is instrumented "
              "otherwise than by opgen's generated module."),
    ),
    doc="How Prometheus finds the service's metrics.",
)

TRAFFIC = Object(
    (
        Field("baseline_rps", Number(0, MAX_RPS), "Typical requests (or messages) per second.", example=150),
        Field("peak_rps", Number(0, MAX_RPS), "Highest expected requests per second.", example=1500),
        Field("per_instance_rps", Number(0, MAX_RPS, exclusive=True), "Requests per second one instance sustains at full load (a load-test figure); capacity divides by the target utilisation.", example=60),
    ),
    doc="Declared traffic, used for capacity and scaling.",
)


def _sli(kind: str, doc: str, *extra: Field) -> Object:
    return Object((Field("kind", Choice((kind,)), doc, required=True, example=kind), *extra), doc=doc)


def _threshold(doc: str, example: str) -> Field:
    return Field("threshold", String(check=check_duration, type_label="duration"), doc, required=True, example=example)


INTERFACE_FIELD = Field(
    "interface", Choice(INTERFACE_KINDS[:3]),
    "Which declared interface's requests count; defaults to the first http, grpc or queue-consumer interface.",
)

SLI = Variants(
    "kind",
    (
        ("availability", _sli("availability", "Share of requests that did not fail with a server error.", INTERFACE_FIELD)),
        ("latency", _sli(
            "latency", "Share of requests served faster than the threshold.",
            _threshold("Latency threshold; becomes a histogram bucket boundary (with spec.prometheus.buckets declared, it must be one of them).", "500ms"),
            INTERFACE_FIELD,
        )),
        ("freshness", _sli(
            "freshness", "Share of messages picked up within the threshold of being enqueued (queue consumers).",
            _threshold("Largest acceptable message age at processing; becomes a bucket boundary of the message-age histogram.",
                       "60s"),
        )),
        ("job-success", _sli(
            "job-success", "Share of time the latest run of the cron job had succeeded (time-based, per minute).")),
        ("job-on-time", _sli(
            "job-on-time", "Share of time the cron job's last success is more recent than the threshold (time-based, per minute).",
            _threshold("Oldest acceptable last success: twice the schedule's interval plus the longest normal run and some "
                       "slack, so that one failed run (a job-success ticket) does not miss it; at one interval, one failed "
                       "run misses it.", "50h"),
        )),
        ("events", _sli(
            "events", "Any ratio of bad to total events, as PromQL with {{window}} for the range.",
            Field("errors", String(check=check_events_promql, max_length=2000, type_label="PromQL"), "PromQL for the rate of bad events.",
                  required=True, example='sum(rate(gateway_charge_failures_total{job="checkout"}[{{window}}]))'),
            Field("total", String(check=check_events_promql, max_length=2000, type_label="PromQL"), "PromQL for the rate of all events.",
                  required=True, example='sum(rate(gateway_charges_total{job="checkout"}[{{window}}]))'),
        )),
    ),
)

SLO_ALERTING = Object(
    (
        Field("page", Boolean(), "Whether a fast burn pages (severity page) or opens a ticket like a slow one.",
              default_text="true; job-success: only at tier 1", example=False),
        Field("min_bad_events", Number(1, 1_000_000, integer=True),
              "Bad events a page needs in its long window, so that a quiet service is not woken by one failure.",
              default_text="10, fewer when the declared traffic makes 10 failures slow to come (docs/alerts.md)", example=20),
    ),
    doc="How the SLO's alerts page.",
)

SLO = Object(
    (
        Field("name", String(pattern=SLUG, max_length=40, pattern_hint="lower-case words joined by single '-', like availability or charge-success"),
              "SLO name, unique within the service: the `slo` label and part of alert names.", required=True, example="availability"),
        Field("objective", Percentage(0, 100, exclusive=True), "Target percentage of good events, 0 < x < 100.", required=True, example=99.9),
        Field("window", String(check=check_slo_window, type_label="duration (days)"), "Compliance window, whole days from 7d to 90d.", default="30d", example="28d"),
        Field("description", String(max_length=500), "What the SLO protects, in user terms.", default="", example="Checkout requests succeed."),
        Field("sli", SLI, "How good and bad events are counted.", required=True),
        Field("previous_names", ListOf(String(pattern=SLUG, max_length=40, pattern_hint="an SLO name"), max_items=10),
              "Names this SLO had before a rename: their recorded history still counts in its long windows and "
              "budget. Keep an old name for one SLO window after the rename.", default=[], example=["success"]),
        Field("alerting", SLO_ALERTING, "Who is woken, and on how much evidence."),
        Field("maintenance", Choice(("counts", "excluded")),
              "What spec.maintenance's windows do to this SLO: `counts` (users still suffer them, so they spend the "
              "budget) or `excluded` (the SLI leaves those minutes out, and 5 more: docs/fleet.md, \"Planned maintenance\").",
              default="counts", example="excluded"),
    ),
)

DEPENDENCY = Object(
    (
        Field("name", String(pattern=DNS_LABEL, pattern_hint="a DNS label"), "Dependency name, unique within the service.", required=True, example="orders-db"),
        Field("kind", Choice(DEPENDENCY_KINDS), "What it is.", required=True, example="postgres"),
        Field("critical", Boolean(), "Whether the service fails when this dependency fails.", default=False, example=True),
        Field("service", String(pattern=DNS_LABEL, pattern_hint="a DNS label"), "The opgen service it is, when it has a descriptor.", example="payments-gateway"),
        Field("auth", Boolean(), "Whether reaching it takes credentials (SASL or TLS on Kafka, a RabbitMQ user, an AWS "
              "identity for SQS): a broker's KEDA trigger then reads them from a TriggerAuthentication.", default=False, example=True),
        Field("fallback", Boolean(), "Whether the service degrades gracefully without it (a cache, a default answer): a "
              "critical dependency with a fallback does not bound the service's availability ceiling.", default=False, example=True),
        Field("error_threshold", Number(0, 100, exclusive=True),
              "Percentage of failed calls (over 5m, for 10m) that raises DependencyErrorRatioHigh.", default_text="5", example=2),
        Field("latency_threshold", String(check=check_duration, type_label="duration"),
              "p99 call latency (over 5m, for 15m) that raises DependencyLatencyHigh.",
              default_text="500ms for postgres, mysql and redis; 1s otherwise", example="250ms"),
    ),
)

GPU = Object(
    (
        Field("count", Number(1, 16, integer=True), "GPUs per replica.", required=True, example=1),
        Field("model", String(max_length=60, pattern=r"[A-Za-z0-9][A-Za-z0-9 ._-]*", pattern_hint="a GPU model like nvidia-l4"),
              "GPU model, for runbooks and capacity notes.", example="nvidia-l4"),
        Field("hourly_cost_usd", Number(0, MAX_USD), "What one GPU costs per hour, in US dollars.", example=0.8),
    ),
    doc="GPUs each replica needs.",
)

RESOURCES = Object(
    (Field("gpu", GPU, "GPUs per replica; adds GPU saturation alerts, panels and GPU-based scaling."),),
    doc="Hardware each replica needs.",
)

SCALING = Object(
    (
        Field("min_replicas", Number(0, 1000, integer=True), "Fewest replicas.", example=3),
        Field("max_replicas", Number(1, 10000, integer=True), "Most replicas.", example=40),
        Field("target_cpu_utilization", Number(1, 100, integer=True), "CPU percentage the autoscaler aims for.", example=60),
    ),
    doc="Autoscaling bounds.",
)

COST = Object(
    (Field("monthly_budget_usd", Number(0, MAX_USD), "What the service may cost per month, in US dollars.", example=3000),),
    doc="Cost limits.",
)

# `opgen gate` (docs/live.md): what a deploy gate does with the error budget. The tier defaults of
# warn_at are in model.py (ErrorBudgetPolicy); the cross-field checks in validate.py.
ERROR_BUDGET_POLICY = Object(
    (
        Field("block_at", Number(0, 1000, exclusive=True),
              "Share of an SLO's error budget, in percent of its window's budget, whose spending makes "
              "`opgen gate` block a deploy (exit 1).", default=100, example=100),
        Field("warn_at", Number(0, 1000, exclusive=True),
              "Share spent, in percent, from which the gate warns but lets the deploy go; at most block_at.",
              default_text="50 (tier 1), 75 (tier 2), 90 (tiers 3 and 4); at most block_at", example=75),
        Field("slos", ListOf(String(pattern=SLUG, pattern_hint="an SLO name from spec.slos"), max_items=20),
              "The SLOs the gate judges.", default_text="every SLO", example=["availability"]),
        Field("override_by", ListOf(String(pattern=r"[@A-Za-z0-9][A-Za-z0-9@/._-]{0,99}",
                                           pattern_hint="a person or group as your CI names them, like @shop/payments-leads"),
                                    max_items=20),
              "Who may let a blocked deploy go anyway; the gate names them with every block (your CI enforces it).",
              default_text="metadata.team", example=["@shop/payments-leads"]),
    ),
    doc="What `opgen gate` does with the error budget before a deploy (docs/live.md).",
)


def _time_of_day(name: str, doc: str, example: str, **defaults) -> Field:
    return Field(name, String(check=check_time_of_day, type_label="time of day (HH:MM)"), doc, example=example, **defaults)


WEEKLY_WINDOW = Object(
    (
        Field("days", ListOf(Choice(WEEKDAYS), max_items=7), "Days of the week it starts on.", required=True,
              example=["tuesday", "thursday"]),
        _time_of_day("start", "When it starts, in maintenance.time_zone.", "02:00", required=True),
        _time_of_day("end", "When it ends; an end before the start is on the next day.", "04:00", required=True),
    ),
)

DATED_WINDOW = Object(
    (
        Field("date", String(check=check_date, type_label="date (YYYY-MM-DD)"), "The day it starts on.", required=True,
              example="2026-12-24"),
        _time_of_day("start", "When it starts, in maintenance.time_zone.", "22:00", default="00:00"),
        _time_of_day("end", "When it ends; an end before the start is on the next day.", "02:00", default="24:00"),
    ),
)

MAINTENANCE = Object(
    (
        Field("time_zone", String(check=check_time_zone, max_length=60, type_label="IANA time zone"),
              "Time zone of every window's times.", default="UTC", example="Europe/Berlin"),
        Field("weekly", ListOf(WEEKLY_WINDOW, max_items=20), "Windows that recur every week.", default=[],
              example=[{"days": ["tuesday"], "start": "02:00", "end": "04:00"}]),
        Field("dates", ListOf(DATED_WINDOW, max_items=50), "One-off windows.", default=[],
              example=[{"date": "2026-12-24", "start": "22:00", "end": "02:00"}]),
    ),
    doc="Planned maintenance: Alertmanager mutes the service's own pages and tickets during these windows "
        "(never its dependents'). The minutes count against each SLO's error budget unless the SLO says "
        "`maintenance: excluded`.",
)

SPEC = Object(
    (
        Field("blueprint", String(pattern=SLUG, pattern_hint="a blueprint name like http-api"),
              "Preset whose spec is deep-merged under this one (`opgen blueprints` lists them).", example="http-api"),
        Field("runtime", RUNTIME, "Where and how it runs.", default={}),
        Field("interfaces", ListOf(INTERFACE, max_items=20), "What it serves.", default=[], example=[{"kind": "http", "port": 8080}]),
        Field("prometheus", PROMETHEUS, "How Prometheus finds its series.", default={}),
        Field("traffic", TRAFFIC, "Expected traffic."),
        Field("slos", ListOf(SLO, unique_by="name", max_items=20), "Service level objectives.", default=[]),
        Field("dependencies", ListOf(DEPENDENCY, unique_by="name", max_items=50), "What it calls.", default=[]),
        Field("resources", RESOURCES, "Hardware each replica needs."),
        Field("scaling", SCALING, "Autoscaling bounds."),
        Field("cost", COST, "Cost limits."),
        Field("error_budget_policy", ERROR_BUDGET_POLICY, "What `opgen gate` does with the error budget.", default={}),
        Field("maintenance", MAINTENANCE, "Planned maintenance windows, when its alerts are muted."),
    ),
    doc="What the service needs operationally.",
)

DESCRIPTOR = Object(
    (
        const_field("apiVersion", API_VERSION, "Descriptor format version."),
        const_field("kind", "Service", "Document kind."),
        Field("metadata", METADATA, "Who and what the service is.", required=True),
        Field("spec", SPEC, "What the service needs operationally.", required=True),
    ),
    doc="An opgen service descriptor.",
)

BLUEPRINT = Object(
    (
        Field("summary", String(max_length=200), "One line shown by `opgen blueprints`.", required=True),
        Field("spec", SPEC, "Defaults deep-merged under a descriptor's spec.", required=True),
    ),
    doc="A preset of descriptor defaults.",
)


def json_schema() -> dict:
    """The published JSON Schema of the descriptor (`opgen schema`)."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://opgen.dev/schemas/service-v1.json",
        "title": "opgen service descriptor (opgen/v1)",
    }
    schema.update(DESCRIPTOR.json_schema())
    return schema
