"""ops/otel/<name>telemetry/telemetry.go: a Go package that emits the service's metric contract.

Written on prometheus/client_golang, not on the OpenTelemetry Go SDK. The Go module proxy is out of
reach where opgen is built and tested, so the stub must build against Debian's Go packages, and
Debian's OpenTelemetry Go (1.1.0) predates the stable metrics API and has no Prometheus exporter;
client_golang is packaged, stable, and what every Go service exposing /metrics already uses. The
series keep the names, labels and buckets the OpenTelemetry Prometheus exporter would write
(opgen.contract), so the rules cannot tell the difference.
"""

from __future__ import annotations

from dataclasses import dataclass

from opgen import contract
from opgen import conventions as c
from opgen.descriptor.model import Dependency
from opgen.render import Artifact, RenderContext, generated_header
from opgen.render.templating import render_template
from opgen.slo.numbers import format_number

TEMPLATE = "otel/go_telemetry.go.j2"
LANGUAGE = "go"  # spec.runtime.language of the services that get this package

# Exported names of the template: a dependency helper must not take one of them.
TEMPLATE_NAMES = frozenset({
    "ServiceName", "ServiceNamespace", "ServiceDescription", "Team", "Tier", "MetricsPort", "MetricsPortVariable",
    "Registry", "Setup", "Handler", "Call", "Middleware", "SetRoute", "GRPCServerCall", "MessageProcessing",
    "PushgatewayURLVariable", "DefaultPushgatewayURL", "JobRun",
})
# How a call's outcome is read (the Go constants of the template's callKind).
CALL_KINDS = {None: "plainCall", contract.HTTP_STATUS: "httpCall", contract.GRPC_STATUS: "grpcCall"}


@dataclass(frozen=True)
class GoHistogram:
    variable: str  # its unexported package variable, e.g. httpServerRequestDuration
    name: str  # the Prometheus name, e.g. http_server_request_duration_seconds
    help: str
    buckets: tuple[str, ...]  # seconds, as exact Go float literals
    labels: tuple[str, ...]


@dataclass(frozen=True)
class DependencyHelper:
    function: str  # exported: OrdersDb
    dependency: Dependency
    histogram: str  # GoHistogram.variable
    kind: str  # CALL_KINDS
    labels: tuple[tuple[str, str], ...]  # fixed for every call: peer_service and the system


def render(context: RenderContext) -> list[Artifact]:
    service = context.service
    if service.language != LANGUAGE:
        return []
    metrics = contract.service_contract(service)
    servers = {kind: go_histogram(h) for kind, h in metrics.servers.items()}
    helpers = dependency_helpers(metrics)
    text = render_template(
        TEMPLATE,
        **contract.stub_constants(),
        header=generated_header(context, "//"),
        service=service,
        package=c.go_telemetry_package(service.name),
        resource=[(contract.label(key), value) for key, value in metrics.resource],
        http=servers.get("http"),
        grpc=servers.get("grpc"),
        queue=servers.get("queue-consumer"),
        message_age=go_histogram(metrics.message_age) if metrics.message_age else None,
        histograms=[go_histogram(h) for h in metrics.histograms] if metrics.scraped else [],
        dependency_helpers=helpers,
        grpc_status="grpc" in servers or any(h.kind == CALL_KINDS[contract.GRPC_STATUS] for h in helpers),
        scraped=metrics.scraped,
        job=contract.JOB_GAUGES if metrics.job_gauges else None,
    )
    return [Artifact(c.telemetry_path(service.name, LANGUAGE), text, c.TELEMETRY_REGIONS)]


def variable(otel_name: str) -> str:
    """http.server.request.duration -> httpServerRequestDuration (unexported)."""
    first, *rest = otel_name.replace("_", ".").split(".")
    return first + "".join(part.capitalize() for part in rest)


def go_histogram(histogram: contract.Histogram) -> GoHistogram:
    return GoHistogram(variable(histogram.otel_name), histogram.prometheus_name, histogram.description,
                       tuple(format_number(b) for b in histogram.boundaries), histogram.labels)


def dependency_helpers(metrics: contract.Contract) -> list[DependencyHelper]:
    """None for a cron job: its runs end before any scrape, and no rule reads their calls."""
    if not metrics.scraped:
        return []
    taken: set[str] = set()
    helpers = []
    for call in metrics.dependency_calls:
        labels = [(c.PEER_LABEL, call.dependency.name)]
        if call.system:
            labels.append((contract.label(call.system[0]), call.system[1]))
        helpers.append(DependencyHelper(function_name(call.dependency.name, taken), call.dependency,
                                        variable(call.histogram.otel_name), CALL_KINDS[call.status], tuple(labels)))
        taken.add(helpers[-1].function)
    return helpers


def function_name(dependency_name: str, taken: set[str]) -> str:
    """orders-db -> OrdersDb, exported; a name the package already exports gets a suffix, so a helper
    can never clash with the package or another helper (a-1b and a1b are both A1b)."""
    name = "".join(part[:1].upper() + part[1:] for part in dependency_name.split("-"))
    while name in TEMPLATE_NAMES or name in taken:
        name += "Dependency"
    return name
