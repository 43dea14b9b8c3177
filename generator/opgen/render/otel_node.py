"""ops/otel/<name>_telemetry.js: a Node.js module that emits the service's metric contract.

On the OpenTelemetry JS SDK (@opentelemetry/sdk-metrics and its Prometheus exporter), with one view
per histogram of the contract (opgen.contract): the view sets the bucket boundaries, and the name
Prometheus must see, since the JS Prometheus exporter, unlike Python's and Go's, adds no unit
suffix (http.server.request.duration would be scraped as http_server_request_duration, which no
rule reads). A cron job pushes its runs with prom-client, as the Python module does with
prometheus_client. CommonJS, so that `require` finds it from any Node.js service, and NODE_PATH
works in tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from opgen import contract
from opgen import conventions as c
from opgen.descriptor.model import Dependency
from opgen.render import Artifact, RenderContext, generated_header
from opgen.render.templating import render_template
from opgen.slo.numbers import format_number

TEMPLATE = "otel/node_telemetry.js.j2"
LANGUAGE = "node"  # spec.runtime.language of the services that get this module

# Names a dependency helper (a function of the module) must not take: what the template defines
# or uses at module level, and the words strict-mode JavaScript reserves.
TEMPLATE_NAMES = frozenset({
    "setup", "shutdown", "meter", "metricsHandler", "httpHandler", "httpMiddleware", "grpcServerCall",
    "messageProcessing", "jobRun", "metrics", "require", "module", "exports", "process", "console", "performance",
    "globalThis", "undefined", "eval", "arguments", "exporter", "meterProvider", "instruments", "record", "timed",
    "observe", "route", "errorType", "grpcStatus", "recordMessageAge", "pushJobOutcome", "metricsPort",
    "histogramView", "Call", "HTTPCall", "GRPCCall",
})
RESERVED_WORDS = frozenset("""
    break case catch class const continue debugger default delete do else enum export extends false finally for
    function if implements import in instanceof interface let new null package private protected public return
    static super switch this throw true try typeof var void while with yield await
""".split())
CALL_CLASSES = {None: "Call", contract.HTTP_STATUS: "HTTPCall", contract.GRPC_STATUS: "GRPCCall"}


@dataclass(frozen=True)
class NodeHistogram:
    constant: str  # HTTP_SERVER_REQUEST_DURATION
    otel_name: str
    prometheus_name: str
    description: str
    boundaries: tuple[str, ...]  # seconds, as exact JavaScript number literals


@dataclass(frozen=True)
class DependencyHelper:
    function: str  # ordersDb
    dependency: Dependency
    histogram: str  # NodeHistogram.constant
    call_class: str  # CALL_CLASSES
    attributes: tuple[tuple[str, str], ...]  # (attribute constant, value): peer.service and the system


def render(context: RenderContext) -> list[Artifact]:
    service = context.service
    if service.language != LANGUAGE:
        return []
    metrics = contract.service_contract(service)
    servers = {kind: node_histogram(h) for kind, h in metrics.servers.items()}
    text = render_template(
        TEMPLATE,
        **contract.stub_constants(),
        header=generated_header(context, "//"),
        service=service,
        module=c.telemetry_path(service.name, LANGUAGE).rsplit("/", 1)[-1].removesuffix(".js"),
        attribute_constants=attribute_constants(metrics),
        resource=metrics.resource,
        http=servers.get("http"),
        grpc=servers.get("grpc"),
        queue=servers.get("queue-consumer"),
        message_age=node_histogram(metrics.message_age) if metrics.message_age else None,
        histograms=[node_histogram(h) for h in metrics.histograms] if metrics.scraped else [],
        dependency_helpers=dependency_helpers(metrics),
        scraped=metrics.scraped,
        job=contract.JOB_GAUGES if metrics.job_gauges else None,
    )
    return [Artifact(c.telemetry_path(service.name, LANGUAGE), text, c.TELEMETRY_REGIONS)]


def constant(otel_name: str) -> str:
    return otel_name.replace(".", "_").upper()


def attribute_constants(metrics: contract.Contract) -> dict[str, str]:
    """HTTP_ROUTE = "http.route" and so on, for every attribute the contract's histograms carry."""
    attributes = [a for h in metrics.histograms for a in h.attributes] + [contract.ERROR_TYPE]
    return {constant(a): a for a in dict.fromkeys(attributes)}


def node_histogram(histogram: contract.Histogram) -> NodeHistogram:
    return NodeHistogram(constant(histogram.otel_name), histogram.otel_name, histogram.prometheus_name,
                         histogram.description, tuple(format_number(b) for b in histogram.boundaries))


def dependency_helpers(metrics: contract.Contract) -> list[DependencyHelper]:
    """None for a cron job: its runs end before any scrape, and no rule reads their calls."""
    if not metrics.scraped:
        return []
    taken: set[str] = set()
    helpers = []
    for call in metrics.dependency_calls:
        attributes = [(constant(c.PEER_ATTRIBUTE), call.dependency.name)]
        if call.system:
            attributes.append((constant(call.system[0]), call.system[1]))
        helpers.append(DependencyHelper(function_name(call.dependency.name, taken), call.dependency,
                                        constant(call.histogram.otel_name), CALL_CLASSES[call.status], tuple(attributes)))
        taken.add(helpers[-1].function)
    return helpers


def function_name(dependency_name: str, taken: set[str]) -> str:
    """orders-db -> ordersDb; a reserved word or a name the module already uses gets a suffix, so a
    helper can never break the module or another helper."""
    first, *rest = dependency_name.split("-")
    name = first + "".join(part[:1].upper() + part[1:] for part in rest)
    while name in RESERVED_WORDS or name in TEMPLATE_NAMES or name in taken:
        name += "Dependency"
    return name
