"""The generated telemetry module emits what the generated rules and dashboard read.

Not by comparing strings: a real service is played against the module (tests/telemetry_driver.py,
in a fresh interpreter with the real OpenTelemetry SDK and Prometheus exporter), the real
/metrics endpoint is scraped, and every selector of the rules (and dashboard) must select a
series of that scrape. Cron jobs push instead: their runs push to a real Pushgateway, whose
/metrics is what Prometheus scrapes (with honor_labels: true).
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import pkgutil
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import promql_parser
import pytest
import yaml_helpers
from prometheus_client.parser import text_string_to_metric_families

from conftest import EXAMPLES, TEST_DESCRIPTORS, real_tool, run_opgen, service_folder
from opgen import conventions as c
from opgen.descriptor.checks import WINDOW_PLACEHOLDER
from opgen.descriptor.load import load_service
from opgen.descriptor.model import Service
from opgen.render import RenderContext
from opgen.render import otel_python
from opgen.slo.sli import le_values

DRIVER = Path(__file__).parent / "telemetry_driver.py"
CASES = [  # (descriptor, latency threshold to put in it instead of its own)
    pytest.param((EXAMPLES / "checkout" / "service.yaml", None), id="checkout"),
    pytest.param((TEST_DESCRIPTORS / "ecs-all-deps.yaml", None), id="ecs-all-deps"),  # every dependency kind, a queue consumer
    pytest.param((TEST_DESCRIPTORS / "gpu-inference.yaml", None), id="gpu-inference"),
    pytest.param((TEST_DESCRIPTORS / "grpc-7d.yaml", None), id="grpc-7d"),
    pytest.param((TEST_DESCRIPTORS / "queue-90d.yaml", None), id="queue-90d"),
    pytest.param((TEST_DESCRIPTORS / "queue-fresh.yaml", None), id="queue-fresh"),  # freshness 90s: not a default boundary
    pytest.param((TEST_DESCRIPTORS / "http-28d.yaml", None), id="http-28d"),  # 1s: le "1.0" against le=~"1|1[.]0"
    pytest.param((EXAMPLES / "checkout" / "service.yaml", "300ms"), id="checkout-300ms"),  # not a default boundary
]
PROMETHEUS_OWN = {c.TARGET_UP_METRIC, "ALERTS", "ALERTS_FOR_STATE"}  # written by Prometheus, not scraped
TARGET_LABELS = {"job", "instance"}  # added by Prometheus at scrape time
PLATFORM_METRICS = {
    value for name, value in vars(c).items()
    if name.startswith(("K8S_", "GPU_", "ECS_", "LAMBDA_")) and isinstance(value, str)
}
GRAFANA_VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})")
PUSHGATEWAY = "prometheus-pushgateway"  # Debian's package and binary name
CRON_JOB = TEST_DESCRIPTORS / "cron-report.yaml"
AGE_PROBE_SECONDS = Fraction(60)  # a default message-age boundary, checked where no freshness SLO adds one


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]  # an empty value is no label, as in Prometheus
    value: float


@dataclass(frozen=True)
class Played:
    folder: Path
    service: Service
    samples: list[Sample]

    def named(self, name: str, **labels: str) -> list[Sample]:
        return [s for s in self.samples if s.name == name and all(s.labels.get(k, "") == v for k, v in labels.items())]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sync(tmp_path: Path, descriptor: Path, threshold: str | None = None) -> Path:
    """`opgen sync` on a copy of descriptor, with every latency threshold set to `threshold` if given."""
    folder = service_folder(tmp_path, descriptor)
    if threshold:
        copy = folder / "service.yaml"
        copy.write_text(re.sub(r"threshold: \w+", f"threshold: {threshold}", copy.read_text()))
    result = run_opgen("sync", folder.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


def without_otel_settings(**extra: str) -> dict[str, str]:
    """The environment minus OTEL_* variables (an OTLP endpoint set in CI must not leak in)."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}, **extra}


def play(folder: Path) -> Played:
    """Run the driver against the generated module and parse its scrape."""
    service = load_service(folder / "service.yaml")
    module = folder / "ops" / c.telemetry_path(service.name)
    kinds = otel_python.declared_request_kinds(service)
    plan = {
        "slow_seconds": float(max(thresholds(service, "latency"), default=0)) + 0.05,
        "stale_seconds": float(max(thresholds(service, "freshness"), default=AGE_PROBE_SECONDS)) + 60,
        "http": "http" in kinds, "grpc": "grpc" in kinds, "queue": "queue-consumer" in kinds,
        "dependencies": [[h.function, h.call_class] for h in otel_python.dependency_helpers(service)],
    }
    result = drive(module, plan, OPGEN_METRICS_PORT=str(free_port()))
    assert result.returncode == 0, result.stderr
    return Played(folder, service, parse_scrape(result.stdout))


def thresholds(service: Service, kind: str) -> list:
    return [s.sli.threshold_seconds for s in service.slos if s.sli.kind == kind]


def drive(module: Path, plan: dict, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(DRIVER), module.stem, json.dumps(plan)],
        env=without_otel_settings(PYTHONPATH=str(module.parent), **env),
        capture_output=True, text=True, timeout=120,
    )


def parse_scrape(text: str) -> list[Sample]:
    return [
        Sample(s.name, {k: v for k, v in s.labels.items() if v != ""}, s.value)
        for family in text_string_to_metric_families(text) for s in family.samples
    ]


@pytest.fixture(scope="module", params=CASES)
def played(request, tmp_path_factory) -> Played:
    descriptor, threshold = request.param
    return play(sync(tmp_path_factory.mktemp("played"), descriptor, threshold))


# --- reading selectors out of PromQL ---------------------------------------------------------


def selectors(expr: str) -> list[promql_parser.VectorSelector]:
    found = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(promql_parser.parse(expr), visit, None)
    return found


def metric_names(expr: str) -> set[str]:
    return {s.name for s in selectors(expr) if s.name}


def not_emitted_by_the_service(played: Played, recorded: set[str]) -> set[str]:
    events = {
        name for slo in played.service.slos if slo.sli.kind == "events"
        for query in (slo.sli.errors_promql, slo.sli.total_promql)
        for name in metric_names(query.replace(WINDOW_PLACEHOLDER, "5m"))
    }
    pushed = set(c.JOB_METRICS)  # to the Pushgateway, not to /metrics: see the cron job tests
    return recorded | PROMETHEUS_OWN | PLATFORM_METRICS | events | pushed


def target_labels(played: Played) -> set[str]:
    return TARGET_LABELS | {m.name for m in selectors("x{" + played.service.selector + "}")[0].matchers.matchers}


def matches(matcher, labels: dict[str, str]) -> bool:
    value = labels.get(matcher.name, "")
    op = str(matcher.op).rsplit(".", 1)[-1]
    if GRAFANA_VARIABLE.search(matcher.value):  # a dashboard variable: only the label must exist
        return value != ""
    return {
        "Equal": lambda: value == matcher.value,
        "NotEqual": lambda: value != matcher.value,
        "Re": lambda: re.fullmatch(matcher.value, value) is not None,
        "NotRe": lambda: re.fullmatch(matcher.value, value) is None,
    }[op]()


def unmatched_selectors(played: Played, exprs: list[str], recorded: set[str]) -> list[str]:
    """Selectors of series the service must emit that select nothing in its scrape."""
    skip = not_emitted_by_the_service(played, recorded)
    wanted = [selector for expr in exprs for selector in selectors(expr) if selector.name not in skip]
    return selecting_nothing(wanted, played.samples, ignored_labels=target_labels(played))


def selecting_nothing(wanted: list, samples: list[Sample], ignored_labels: set[str]) -> list[str]:
    """The selectors that select no sample; matchers on ignored_labels (set at scrape time) are not checked."""
    missing = []
    for selector in wanted:
        matchers = [m for m in selector.matchers.matchers if m.name not in ignored_labels]
        if not any(s.name == selector.name and all(matches(m, s.labels) for m in matchers) for s in samples):
            missing.append(str(selector))
    return missing


def rule_file(played: Played) -> dict:
    return yaml_helpers.load(played.folder / "ops" / c.rules_path(played.service.name))


def dashboard_exprs(node) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "expr" and isinstance(v, str)] + [
            e for k, v in node.items() for e in dashboard_exprs(v)]
    if isinstance(node, list):
        return [e for v in node for e in dashboard_exprs(v)]
    return []


def with_grafana_variables_filled(expr: str) -> str:
    expr = re.sub(r"\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}", "5m", expr)
    return GRAFANA_VARIABLE.sub(lambda m: "$" + m.group(1).strip("{}"), expr)


# --- the consistency proof -------------------------------------------------------------------


def test_every_selector_of_the_rules_selects_a_scraped_series(played):
    rules = [r for group in rule_file(played)["groups"] for r in group["rules"]]
    recorded = {r["record"] for r in rules if "record" in r}
    exprs = [r["expr"] for r in rules]
    assert any(selectors(e) and not metric_names(e) & recorded for e in exprs), "no raw selector to check"
    assert unmatched_selectors(played, exprs, recorded) == []


def test_every_selector_of_the_dashboard_selects_a_scraped_series(played):
    recorded = {r["record"] for g in rule_file(played)["groups"] for r in g["rules"] if "record" in r}
    assert unmatched_selectors(played, dashboard_queries(played), recorded) == []


def dashboard_queries(played: Played) -> list[str]:
    dashboard = json.loads((played.folder / "ops" / c.dashboard_path(played.service.name)).read_text())
    return [with_grafana_variables_filled(e) for e in dashboard_exprs(dashboard)]


def test_every_latency_threshold_is_a_bucket_boundary_and_slow_requests_land_above_it(played):
    latency = [s for s in played.service.slos if s.sli.kind == "latency"]
    for slo in latency:
        metric = c.REQUEST_METRICS[slo.sli.interface]
        boundaries = {s.labels["le"] for s in played.named(metric.bucket)}
        (le,) = boundaries & set(le_values(slo.sli.threshold_seconds))
        if slo.sli.interface == "http":  # the driver's slow requests took longer than the threshold
            fast = sum(s.value for s in played.named(metric.bucket, le=le))
            assert 0 < fast < sum(s.value for s in played.named(metric.count))


def test_every_freshness_threshold_is_a_message_age_boundary_and_stale_messages_land_above_it(played):
    if "queue-consumer" not in otel_python.declared_request_kinds(played.service):
        assert not played.named(c.MESSAGE_AGE.count)
        return
    ages = played.named(c.MESSAGE_AGE.count)
    assert all(set(c.MESSAGE_AGE_LABELS) <= set(s.labels) and "error_type" not in s.labels for s in ages)
    # fresh, failed (its age counts too), stale, and one from a producer whose clock is ahead (age 0);
    # the message without an enqueue time has no age
    assert sum(s.value for s in ages) == 4
    boundaries = {s.labels["le"] for s in played.named(c.MESSAGE_AGE.bucket)}
    for threshold in thresholds(played.service, "freshness") or [AGE_PROBE_SECONDS]:
        (le,) = boundaries & set(le_values(threshold))
        assert sum(s.value for s in played.named(c.MESSAGE_AGE.bucket, le=le)) == 3


def test_failures_carry_error_type(played):
    kinds = otel_python.declared_request_kinds(played.service)
    if "http" in kinds:
        http = c.REQUEST_METRICS["http"]
        assert played.named(http.count, http_response_status_code="503", error_type="503")
        assert played.named(http.count, http_response_status_code="", error_type="RuntimeError")
        assert played.named(http.count, http_route="/orders/{id}"), "the app's route template is the route"
    if "queue-consumer" in kinds:
        queue = c.REQUEST_METRICS["queue-consumer"]
        assert played.named(queue.count, messaging_system="kafka", error_type="TimeoutError")
    if "grpc" in kinds:
        grpc = c.REQUEST_METRICS["grpc"]
        assert played.named(grpc.count, rpc_response_status_code="UNAVAILABLE", error_type="Unavailable")


def test_each_dependency_is_its_own_peer_service_with_its_system_and_errors(played):
    for dependency in played.service.dependencies:
        metric = c.DEPENDENCY_METRICS[dependency.kind]
        system = dict([metric.system]) if metric.system else {}
        calls = played.named(metric.count, **{c.PEER_LABEL: dependency.name}, **system)
        assert {s.labels.get("error_type", "") for s in calls} >= {"", "Unavailable" if dependency.kind == "grpc" else "ConnectionError"}
        if metric.histogram == "http_client_request_duration_seconds":
            assert [s for s in calls if s.labels.get("error_type") == "503" and s.labels["http_response_status_code"] == "503"]


def test_the_resource_names_the_service_its_team_and_tier(played):
    service = played.service
    (info,) = played.named("target_info")
    assert {k: info.labels.get(k) for k in ("service_name", "service_namespace", c.LABEL_TEAM, c.LABEL_TIER)} == {
        "service_name": service.name, "service_namespace": service.namespace,
        c.LABEL_TEAM: service.team, c.LABEL_TIER: str(service.tier)}


# --- cron jobs: what their runs push to a real Pushgateway --------------------------------------


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory) -> Iterator[str]:
    """A real Pushgateway on a free loopback port, in memory; its absence is a failure, not a skip
    (.ci/run installs it)."""
    binary = real_tool(PUSHGATEWAY, PUSHGATEWAY)
    address = f"127.0.0.1:{free_port()}"
    log = tmp_path_factory.mktemp("pushgateway") / "log"
    with log.open("w") as stderr:
        process = subprocess.Popen([binary, f"--web.listen-address={address}", "--persistence.file="],
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_until_ready(f"http://{address}/-/ready", process, log)
        yield f"http://{address}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{PUSHGATEWAY} exited with {process.returncode}: {log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{PUSHGATEWAY} did not become ready: {log.read_text()}")


@dataclass(frozen=True)
class JobRuns:
    folder: Path
    service: Service
    after_success: Played  # the Pushgateway's scrape after a successful run
    after_failure: Played  # and after a failed run that followed it


def scrape_job_group(gateway: str, played: Played) -> Played:
    with urllib.request.urlopen(f"{gateway}/metrics", timeout=10) as response:
        samples = parse_scrape(response.read().decode())
    group = [s for s in samples if s.labels.get("job") == played.service.name]
    return Played(played.folder, played.service, group)


@pytest.fixture(scope="module")
def job_runs(pushgateway, tmp_path_factory) -> JobRuns:
    folder = sync(tmp_path_factory.mktemp("cron"), CRON_JOB)
    service = load_service(folder / "service.yaml")
    module = folder / "ops" / c.telemetry_path(service.name)
    scrapes = []
    for outcome in ("success", "failure"):
        result = drive(module, {"job_run": outcome}, OPGEN_PUSHGATEWAY_URL=pushgateway)
        assert result.returncode == 0 and "could not push" not in result.stderr, result.stderr
        scrapes.append(scrape_job_group(pushgateway, Played(folder, service, [])))
    return JobRuns(folder, service, *scrapes)


def gauge(played: Played, name: str) -> float:
    samples = played.named(name)
    assert len(samples) == 1, f"one {name} series expected in the Pushgateway's group: {samples}"
    return samples[0].value


def job_selectors(exprs: list[str]) -> list:
    return [selector for expr in exprs for selector in selectors(expr) if selector.name in c.JOB_METRICS]


def test_every_job_gauge_selector_of_the_rules_and_dashboard_selects_a_pushed_series(job_runs):
    """The job label too: the grouping key sets it, and honor_labels keeps it."""
    played = job_runs.after_failure
    rules = job_selectors([r["expr"] for g in rule_file(played)["groups"] for r in g["rules"]])
    dashboard = job_selectors(dashboard_queries(played))
    assert rules and {s.name for s in rules + dashboard} == set(c.JOB_METRICS)
    assert selecting_nothing(rules + dashboard, played.samples, ignored_labels=set()) == []


def test_a_failed_run_keeps_the_last_success_and_reads_as_failed(job_runs):
    success, failure = job_runs.after_success, job_runs.after_failure
    succeeded_at = gauge(success, c.JOB_LAST_SUCCESS)
    assert gauge(success, c.JOB_LAST_COMPLETION) == succeeded_at  # the latest run succeeded
    assert gauge(failure, c.JOB_LAST_SUCCESS) == succeeded_at
    assert gauge(failure, c.JOB_LAST_COMPLETION) > succeeded_at  # the latest run failed
    assert gauge(failure, c.JOB_LAST_DURATION) >= 0


def test_an_unreachable_pushgateway_is_a_warning_never_a_failed_run(tmp_path):
    folder = sync(tmp_path, CRON_JOB)
    module = folder / "ops" / c.telemetry_path("nightly-report")
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for outcome in ("success", "failure"):  # the driver fails unless a failed run re-raises the job's exception
        result = drive(module, {"job_run": outcome}, OPGEN_PUSHGATEWAY_URL=nowhere)
        assert result.returncode == 0, result.stderr
        assert "could not push" in result.stderr and nowhere in result.stderr


# --- the file itself -------------------------------------------------------------------------


def test_the_module_compiles_keeps_its_regions_and_is_the_same_every_time(tmp_path):
    descriptor = TEST_DESCRIPTORS / "ecs-all-deps.yaml"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = sync(tmp_path / "a", descriptor), sync(tmp_path / "b", descriptor)
    path = Path("ops") / c.telemetry_path("orders")
    text = (first / path).read_text()
    assert text == (second / path).read_text()
    compile(text, str(path), "exec")
    assert text.startswith("# Generated by opgen from service.yaml.")
    lines = text.splitlines()
    assert lines.index("# opgen:keep imports") + 1 == lines.index("# opgen:end")
    assert lines[-2:] == ["# opgen:keep custom", "# opgen:end"]


def test_the_renderer_knows_every_name_the_module_defines():
    """Dependency helpers are renamed when they would shadow one of these."""
    for descriptor in (TEST_DESCRIPTORS / "ecs-all-deps.yaml", TEST_DESCRIPTORS / "grpc-7d.yaml", CRON_JOB):
        service = load_service(descriptor)
        (artifact,) = otel_python.render(RenderContext(service, "service.yaml"))
        defined = set()
        for node in ast.parse(artifact.text).body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.Assign):
                defined |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        helpers = {h.function for h in otel_python.dependency_helpers(service)}
        public = {name for name in defined - helpers if not name.startswith("_") and not name.isupper()}
        assert public <= otel_python.TEMPLATE_NAMES


def semantic_convention_names(*packages: str) -> set[str]:
    """Every name the OpenTelemetry semantic-conventions package defines (stable and incubating)."""
    names = set()
    for package in packages:
        for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
            members = vars(importlib.import_module(f"{package}.{module.name}"))
            names |= {v for k, v in members.items() if k.isupper() and isinstance(v, str)}
    return names


def test_attributes_and_instruments_are_named_as_the_semantic_conventions_say():
    """The scrape cannot tell http.response.status_code from http.response.status.code: OTLP can."""
    attributes = semantic_convention_names("opentelemetry.semconv.attributes", "opentelemetry.semconv._incubating.attributes")
    instruments = semantic_convention_names("opentelemetry.semconv.metrics", "opentelemetry.semconv._incubating.metrics")
    for label, attribute in c.OTEL_ATTRIBUTES.items():
        assert attribute in attributes and attribute.replace(".", "_") == label
    for metric in [*c.REQUEST_METRICS.values(), *c.DEPENDENCY_METRICS.values()]:
        assert metric.otel_name in instruments


# (NUL and other control characters are refused by validation: tests/test_validation.py)
HOSTILE_DESCRIPTION = 'It\'s "quoted"\n""" \'\'\' \\ \\n {{ x }} {% if %} # opgen:end\r\u2028 [31m done'
HOSTILE_DEPENDENCIES = {  # names Python or the module already uses, and a name the first renaming takes
    "setup": "setup_dependency", "import": "import_dependency", "type": "type_dependency",
    "setup-dependency": "setup_dependency_dependency", "os": "os_dependency",
}


def test_hostile_descriptor_text_still_makes_a_module_that_imports(tmp_path):
    folder = tmp_path / "hostile"
    folder.mkdir()
    dependencies = ", ".join(f"{{name: {name}, kind: redis}}" for name in HOSTILE_DEPENDENCIES)
    (folder / "service.yaml").write_text(
        "apiVersion: opgen/v1\nkind: Service\n"
        f"metadata: {{name: hostile, team: red-team, tier: 2, description: {json.dumps(HOSTILE_DESCRIPTION)}}}\n"
        "spec:\n  interfaces: [{kind: http}, {kind: queue-consumer}]\n"
        f"  dependencies: [{dependencies}]\n"
    )
    result = run_opgen("sync", "hostile", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    module = folder / "ops" / c.telemetry_path("hostile")
    show = "import json, hostile_telemetry as t; print(json.dumps([t.SERVICE_DESCRIPTION, t.setup.__doc__, [{}]]))".format(
        ", ".join(f"t.{function}.__name__" for function in HOSTILE_DEPENDENCIES.values()))
    shown = subprocess.run([sys.executable, "-c", show], env=without_otel_settings(PYTHONPATH=str(module.parent)),
                           capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    description, setup_doc, helpers = json.loads(shown.stdout)
    assert description == HOSTILE_DESCRIPTION
    assert setup_doc.startswith("Install the SDK")
    assert helpers == list(HOSTILE_DEPENDENCIES.values())
