"""ops/otel/<name>_telemetry.py: OpenTelemetry setup and helpers that emit the metric contract.

Generated from the service's metric contract (opgen.contract), so the names the service writes and
the names the rules read come from one place. Only the service imports the module; opgen itself
never imports OpenTelemetry.
"""

from __future__ import annotations

import builtins
import keyword
from dataclasses import dataclass

from opgen import conventions as c
from opgen import contract
from opgen.descriptor.model import Dependency, Service
from opgen.render import Artifact, RenderContext, generated_header
from opgen.render.templating import render_template

TEMPLATE = "otel/python_telemetry.py.j2"
LANGUAGE = "python"  # spec.runtime.language of the services that get this module

# The module constant of each gauge a cron job pushes.
JOB_GAUGE_CONSTANTS = {c.JOB_LAST_SUCCESS: "JOB_LAST_SUCCESS", c.JOB_LAST_COMPLETION: "JOB_LAST_COMPLETION",
                       c.JOB_LAST_DURATION: "JOB_LAST_DURATION"}

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
    if service.language != LANGUAGE:
        return []
    metrics = contract.service_contract(service)
    servers = {kind: python_histogram(h) for kind, h in metrics.servers.items()}
    text = render_template(
        TEMPLATE,
        **contract.stub_constants(),
        header=generated_header(context),
        service=service,
        attribute_constants=attribute_constants(),
        team_attribute=c.LABEL_TEAM,
        tier_attribute=c.LABEL_TIER,
        http=servers.get("http"),
        grpc=servers.get("grpc"),
        queue=servers.get("queue-consumer"),
        message_age=python_histogram(metrics.message_age) if metrics.message_age else None,
        histograms=[python_histogram(h) for h in metrics.histograms],
        dependency_helpers=dependency_helpers(service),
        scraped=metrics.scraped,
        cron=bool(metrics.job_gauges),
        job_gauges=[(JOB_GAUGE_CONSTANTS[name], name, contract.JOB_GAUGE_HELP[name]) for name in metrics.job_gauges],
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


def python_histogram(histogram: contract.Histogram) -> Histogram:
    return Histogram(variable(histogram.otel_name), histogram.otel_name, histogram.description,
                     tuple(float(b) for b in histogram.boundaries))


def dependency_helpers(service: Service) -> list[DependencyHelper]:
    taken: set[str] = set()
    helpers = []
    for call in contract.service_contract(service).dependency_calls:
        helpers.append(dependency_helper(call, function_name(call.dependency.name, taken)))
        taken.add(helpers[-1].function)
    return helpers


def dependency_helper(call: contract.DependencyCall, function: str) -> DependencyHelper:
    system = (contract.label(call.system[0]).upper(), call.system[1]) if call.system else None
    call_class = {contract.HTTP_STATUS: "HTTPCall", contract.GRPC_STATUS: "GRPCCall"}.get(call.status, "Call")
    return DependencyHelper(function, call.dependency, variable(call.histogram.otel_name), call_class, system)


def function_name(dependency_name: str, taken: set[str]) -> str:
    """orders-db -> orders_db; a name Python or the module already uses (import, setup, type)
    gets a suffix, so a helper can never break the module or another helper."""
    name = dependency_name.replace("-", "_")
    while keyword.iskeyword(name) or hasattr(builtins, name) or name in TEMPLATE_NAMES or name in taken:
        name += "_dependency"
    return name
