"""The metric contract of one service: the series its code must emit so that the rules, dashboard and
autoscaler opgen writes find them (docs/metrics.md).

conventions.py names every metric and label; this module decides, per service, which histograms
exist with which attributes and bucket boundaries (every SLO threshold among them), which calls to
dependencies are timed, and which gauges a cron job pushes. Every instrumentation renderer
(render/otel_<language>.py) reads it, and so does the runbook overview of a service opgen writes no
stub for: a new language is one renderer module and its template.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from opgen import conventions as c
from opgen.descriptor.model import REQUEST_INTERFACES, Dependency, Service
from opgen.slo.buckets import histogram_boundaries

# The semantic conventions' descriptions, shown as # HELP in the scrape.
DESCRIPTIONS = {
    "http.server.request.duration": "Duration of HTTP server requests.",
    "rpc.server.call.duration": "Duration of RPC calls handled by the server.",
    "messaging.process.duration": "Duration of processing one message.",
    "http.client.request.duration": "Duration of HTTP client requests.",
    "db.client.operation.duration": "Duration of database client operations.",
    "messaging.client.operation.duration": "Duration of messaging operations.",
    "rpc.client.call.duration": "Duration of outgoing RPC calls.",
    c.MESSAGE_AGE.otel_name: "Time from enqueueing a message to the start of its processing.",
}
UNIT = "s"  # every histogram of the contract is in seconds: Prometheus names end in _seconds

ERROR_TYPE = "error.type"
HTTP_STATUS, GRPC_STATUS = "http", "grpc"  # how a call's outcome is told: a status code or a status name

# gRPC status names by their numeric code (grpc/status.proto): what rpc.response.status_code holds.
GRPC_STATUS_NAMES = (
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
)
# Methods http.request.method keeps; any other becomes _OTHER, so junk requests cannot create
# series without end (semantic conventions).
HTTP_METHODS = ("CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE")
OTHER_HTTP_METHOD = "_OTHER"


@dataclass(frozen=True)
class JobGauges:
    """The gauges a cron job pushes to the Pushgateway at the end of each run."""

    success: str = c.JOB_LAST_SUCCESS  # successful runs only
    completion: str = c.JOB_LAST_COMPLETION  # every run
    duration: str = c.JOB_LAST_DURATION  # every run


JOB_GAUGES = JobGauges()
JOB_GAUGE_HELP = {  # their # HELP
    c.JOB_LAST_SUCCESS: "When the job last ended successfully, in seconds since the epoch.",
    c.JOB_LAST_COMPLETION: "When the job last ended, successfully or not, in seconds since the epoch.",
    c.JOB_LAST_DURATION: "How long the job's last run took, in seconds.",
}
PUSHGATEWAY_URL_VARIABLE = "OPGEN_PUSHGATEWAY_URL"
DEFAULT_PUSHGATEWAY_URL = "http://localhost:9091"  # the Pushgateway's own default port
PUSH_TIMEOUT_SECONDS = 10
METRICS_PORT_VARIABLE = "OPGEN_METRICS_PORT"
TARGET_INFO = "target_info"  # where the OTel Prometheus exporter writes resource attributes


@dataclass(frozen=True)
class Histogram:
    otel_name: str  # http.server.request.duration
    prometheus_name: str  # http_server_request_duration_seconds; Prometheus adds _bucket, _count, _sum
    description: str
    attributes: tuple[str, ...]  # the OTel attributes its series may carry, error.type included
    boundaries: tuple[Fraction, ...]  # seconds, ascending, exact: every SLO threshold is among them

    @property
    def labels(self) -> tuple[str, ...]:
        """The attributes as the Prometheus exporter names them (http.route -> http_route)."""
        return tuple(label(a) for a in self.attributes)


@dataclass(frozen=True)
class DependencyCall:
    dependency: Dependency
    histogram: Histogram
    status: str | None  # HTTP_STATUS, GRPC_STATUS, or None when only an error tells a failure
    system: tuple[str, str] | None  # (OTel attribute, value), e.g. ("db.system.name", "postgresql")


@dataclass(frozen=True)
class Contract:
    servers: dict[str, Histogram]  # by request interface kind, in the order the descriptor declares them
    message_age: Histogram | None  # queue consumers
    dependency_calls: tuple[DependencyCall, ...]
    job_gauges: tuple[str, ...]  # what each run of a cron job pushes; () without a cron interface
    resource: tuple[tuple[str, str], ...]  # resource attributes: target_info's labels
    scraped: bool  # False for a cron job: it only pushes

    @property
    def histograms(self) -> tuple[Histogram, ...]:
        """Every histogram once: a service with two database dependencies has one client histogram."""
        found = [*self.servers.values(), *([self.message_age] if self.message_age else []),
                 *(call.histogram for call in self.dependency_calls)]
        return tuple({h.otel_name: h for h in found}.values())


def stub_constants() -> dict[str, object]:
    """The contract's fixed values, as every language's stub template reads them (one place, so the
    stubs cannot drift apart on an environment variable or a status name)."""
    return dict(
        metrics_port_variable=METRICS_PORT_VARIABLE,
        job_help=JOB_GAUGE_HELP,
        http_methods=HTTP_METHODS,
        other_http_method=OTHER_HTTP_METHOD,
        grpc_status_names=GRPC_STATUS_NAMES,
        grpc_system=c.DEPENDENCY_METRICS["grpc"].system[1],
        target_info=TARGET_INFO,
        pushgateway_url_variable=PUSHGATEWAY_URL_VARIABLE,
        default_pushgateway_url=DEFAULT_PUSHGATEWAY_URL,
        push_timeout_seconds=PUSH_TIMEOUT_SECONDS,
    )


def service_contract(service: Service) -> Contract:
    kinds = declared_request_kinds(service)
    servers = {kind: server_histogram(service, kind) for kind in kinds}
    calls = tuple(dependency_call(service, d) for d in service.dependencies)
    return Contract(
        servers=servers,
        message_age=message_age_histogram(service) if "queue-consumer" in kinds else None,
        dependency_calls=calls,
        job_gauges=c.JOB_METRICS if any(i.kind == "cron" for i in service.interfaces) else (),
        resource=(("service.name", service.name), ("service.namespace", service.namespace),
                  (c.LABEL_TEAM, service.team), (c.LABEL_TIER, str(service.tier))),
        scraped=not service.is_cron_job,
    )


def declared_request_kinds(service: Service) -> list[str]:
    kinds = [i.kind for i in service.interfaces if i.kind in REQUEST_INTERFACES]
    return list(dict.fromkeys(kinds))


def attribute(label_name: str) -> str:
    return c.OTEL_ATTRIBUTES[label_name]


def label(attribute_name: str) -> str:
    """An attribute as the Prometheus exporter names its label: http.route -> http_route."""
    return attribute_name.replace(".", "_")


def server_histogram(service: Service, kind: str) -> Histogram:
    """Its boundaries hold each latency SLO's threshold, or the SLI reads every request as slow."""
    metric = c.REQUEST_METRICS[kind]
    labels = dict.fromkeys((*metric.labels, "error_type"))  # error.type marks a failure on every kind
    return histogram(metric, tuple(attribute(name) for name in labels), histogram_boundaries(service, metric))


def message_age_histogram(service: Service) -> Histogram:
    """Its boundaries hold each freshness SLO's threshold, or the SLI reads every message as stale."""
    return histogram(c.MESSAGE_AGE, tuple(attribute(name) for name in c.MESSAGE_AGE_LABELS),
                     histogram_boundaries(service, c.MESSAGE_AGE))


def dependency_call(service: Service, dependency: Dependency) -> DependencyCall:
    metric = c.DEPENDENCY_METRICS[dependency.kind]
    status = {"http_client_request_duration_seconds": HTTP_STATUS, "rpc_client_call_duration_seconds": GRPC_STATUS}.get(metric.histogram)
    system = (attribute(metric.system[0]), metric.system[1]) if metric.system else None
    return DependencyCall(dependency, client_histogram(service, metric), status, system)


def client_histogram(service: Service, metric: c.ClientMetric) -> Histogram:
    """One histogram per client metric, whatever the dependency kind, so its attributes and
    boundaries are those of every kind that shares it (postgres and redis both set db.system.name;
    each one's latency threshold is a boundary)."""
    sharing = [m for m in c.DEPENDENCY_METRICS.values() if m.histogram == metric.histogram]
    attributes = [c.PEER_ATTRIBUTE, *(attribute(m.system[0]) for m in sharing if m.system)]
    if metric.histogram == "http_client_request_duration_seconds":
        attributes.append(attribute("http_response_status_code"))
    if metric.histogram == "rpc_client_call_duration_seconds":
        attributes.append(attribute("rpc_response_status_code"))
    return histogram(metric, tuple(dict.fromkeys([*attributes, ERROR_TYPE])), histogram_boundaries(service, metric))


def histogram(metric: c.DurationHistogram, attributes: tuple[str, ...], boundaries: tuple[Fraction, ...]) -> Histogram:
    exact = tuple(sorted(set(boundaries)))  # dedupe as fractions: 0.5 and 1/2 are one boundary
    return Histogram(metric.otel_name, metric.histogram, DESCRIPTIONS.get(metric.otel_name, ""), attributes, exact)
