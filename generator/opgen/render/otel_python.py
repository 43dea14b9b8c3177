"""ops/otel/<name>_telemetry.py: OpenTelemetry setup and helpers that emit the metric contract.

Generated, so the names the service writes and the names the rules read come from one place
(conventions). Only the service imports the module; opgen itself never imports OpenTelemetry.
"""

from __future__ import annotations

import builtins
import keyword
from dataclasses import dataclass
from fractions import Fraction

from opgen import conventions as c
from opgen.descriptor.model import REQUEST_INTERFACES, Dependency, Service
from opgen.render import Artifact, RenderContext, generated_header
from opgen.render.templating import render_template

TEMPLATE = "otel/python_telemetry.py.j2"

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

# The gauges a cron job pushes to the Pushgateway: (module constant, metric name, # HELP).
JOB_GAUGES = (
    ("JOB_LAST_SUCCESS", c.JOB_LAST_SUCCESS, "When the job last ended successfully, in seconds since the epoch."),
    ("JOB_LAST_COMPLETION", c.JOB_LAST_COMPLETION, "When the job last ended, successfully or not, in seconds since the epoch."),
    ("JOB_LAST_DURATION", c.JOB_LAST_DURATION, "How long the job's last run took, in seconds."),
)
PUSHGATEWAY_URL_VARIABLE = "OPGEN_PUSHGATEWAY_URL"
DEFAULT_PUSHGATEWAY_URL = "http://localhost:9091"  # the Pushgateway's own default port

# Module-level names of the template: a dependency helper must not shadow one of them.
TEMPLATE_NAMES = frozenset({
    "annotations", "os", "threading", "time", "contextmanager", "metrics", "trace", "Resource",
    "MeterProvider", "TracerProvider", "PrometheusMetricReader", "start_http_server", "Call", "HTTPCall",
    "GRPCCall", "meter", "tracer", "setup", "WSGIMiddleware", "ASGIMiddleware", "grpc_server_call",
    "message_processing", "datetime", "logging", "CollectorRegistry", "Gauge", "pushadd_to_gateway", "job_run",
})  # and upper-case constants, which a dependency name (a DNS label) can never be


@dataclass(frozen=True)
class Histogram:
    variable: str  # the instrument's name in the generated module
    otel_name: str
    description: str
    boundaries: tuple[float, ...]  # seconds, exact decimals as Python floats


@dataclass(frozen=True)
class DependencyHelper:
    function: str
    dependency: Dependency
    histogram: str  # Histogram.variable
    call_class: str  # Call, HTTPCall or GRPCCall: who knows the status code
    system: tuple[str, str] | None  # (attribute constant, value), e.g. ("DB_SYSTEM_NAME", "postgresql")


def render(context: RenderContext) -> list[Artifact]:
    service = context.service
    servers = server_histograms(service)
    age = message_age_histogram(service)
    text = render_template(
        TEMPLATE,
        header=generated_header(context),
        service=service,
        attribute_constants=attribute_constants(),
        team_attribute=c.LABEL_TEAM,
        tier_attribute=c.LABEL_TIER,
        http=servers.get("http"),
        grpc=servers.get("grpc"),
        grpc_system=c.DEPENDENCY_METRICS["grpc"].system[1],
        queue=servers.get("queue-consumer"),
        message_age=age,
        histograms=[*servers.values(), *([age] if age else []), *client_histograms(service)],
        dependency_helpers=dependency_helpers(service),
        scraped=not service.is_cron_job,
        cron=any(i.kind == "cron" for i in service.interfaces),
        job_gauges=JOB_GAUGES,
        pushgateway_url_variable=PUSHGATEWAY_URL_VARIABLE,
        default_pushgateway_url=DEFAULT_PUSHGATEWAY_URL,
    )
    return [Artifact(c.telemetry_path(service.name), text, c.TELEMETRY_REGIONS)]


def attribute_constants() -> dict[str, str]:
    """The module's attribute-name constants, e.g. HTTP_ROUTE = "http.route"; every label the
    contract names (conventions) must have its attribute here, or rendering fails."""
    labels = [label for metric in c.REQUEST_METRICS.values() for label in metric.labels] + list(c.MESSAGE_AGE_LABELS)
    labels += [m.system[0] for m in c.DEPENDENCY_METRICS.values() if m.system] + [c.PEER_LABEL]
    return {label.upper(): c.OTEL_ATTRIBUTES[label] for label in dict.fromkeys(labels)}


def variable(otel_name: str) -> str:
    return otel_name.replace(".", "_").upper()


def declared_request_kinds(service: Service) -> list[str]:
    kinds = [i.kind for i in service.interfaces if i.kind in REQUEST_INTERFACES]
    return list(dict.fromkeys(kinds))


def server_histograms(service: Service) -> dict[str, Histogram]:
    """One per declared request interface kind; its boundaries hold each latency SLO's threshold,
    or the SLI reads every request as slow."""
    histograms = {}
    for kind in declared_request_kinds(service):
        thresholds = [s.sli.threshold_seconds for s in service.slos if s.sli.kind == "latency" and s.sli.interface == kind]
        histograms[kind] = histogram(c.REQUEST_METRICS[kind].otel_name, (*c.DEFAULT_BUCKETS_SECONDS, *thresholds))
    return histograms


def message_age_histogram(service: Service) -> Histogram | None:
    """Queue consumers only; its boundaries hold each freshness SLO's threshold, or the SLI reads
    every message as stale."""
    if "queue-consumer" not in declared_request_kinds(service):
        return None
    thresholds = [s.sli.threshold_seconds for s in service.slos if s.sli.kind == "freshness"]
    return histogram(c.MESSAGE_AGE.otel_name, (*c.MESSAGE_AGE_BUCKETS_SECONDS, *thresholds))


def client_histograms(service: Service) -> list[Histogram]:
    metrics = {c.DEPENDENCY_METRICS[d.kind].otel_name: c.DEPENDENCY_METRICS[d.kind] for d in service.dependencies}
    return [histogram(m.otel_name, m.buckets_seconds) for m in metrics.values()]


def histogram(otel_name: str, boundaries: tuple[Fraction, ...]) -> Histogram:
    exact = sorted(set(boundaries))  # dedupe as fractions: 0.5 and 1/2 are one boundary
    return Histogram(variable(otel_name), otel_name, DESCRIPTIONS.get(otel_name, ""), tuple(float(b) for b in exact))


def dependency_helpers(service: Service) -> list[DependencyHelper]:
    taken: set[str] = set()
    helpers = []
    for dependency in service.dependencies:
        helpers.append(dependency_helper(dependency, function_name(dependency.name, taken)))
        taken.add(helpers[-1].function)
    return helpers


def dependency_helper(dependency: Dependency, function: str) -> DependencyHelper:
    metric = c.DEPENDENCY_METRICS[dependency.kind]
    system = (metric.system[0].upper(), metric.system[1]) if metric.system else None
    call_class = {"http.client.request.duration": "HTTPCall", "rpc.client.call.duration": "GRPCCall"}.get(metric.otel_name, "Call")
    return DependencyHelper(function, dependency, variable(metric.otel_name), call_class, system)


def function_name(dependency_name: str, taken: set[str]) -> str:
    """orders-db -> orders_db; a name Python or the module already uses (import, setup, type)
    gets a suffix, so a helper can never break the module or another helper."""
    name = dependency_name.replace("-", "_")
    while keyword.iskeyword(name) or hasattr(builtins, name) or name in TEMPLATE_NAMES or name in taken:
        name += "_dependency"
    return name
