"""The generated instrumentation emits what the generated rules, dashboard and autoscaler read.

Not by comparing strings: a real service is played against the stub in its own language (Python,
Go, Node.js; tests/stub_drivers.py) with the real libraries (the OpenTelemetry SDKs and Prometheus
exporters, prometheus/client_golang), the real /metrics endpoint is scraped, and every selector of
the rules, dashboard and KEDA triggers must select a series of that scrape, and every SLI computed
from it must count exactly the failures played. Cron jobs push instead: their runs push to a real
Pushgateway, whose /metrics is what Prometheus scrapes (with honor_labels: true).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import io
import json
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

import hcl2
import promql_parser
import pytest
import stub_drivers as drivers
import yaml_helpers
from prometheus_client.parser import text_string_to_metric_families
from ruamel.yaml import YAML

from conftest import EXAMPLES, TEST_DESCRIPTORS, real_tool, run_opgen
from opgen import contract
from opgen import conventions as c
from opgen.descriptor.blueprints import builtin_blueprint_dir
from opgen.descriptor.checks import WINDOW_PLACEHOLDER
from opgen.descriptor.load import load_service
from opgen.descriptor.model import Service
from opgen.capacity import plan_capacity
from opgen.render import RenderContext, otel_go, otel_node, otel_python, terraform_autoscaling
from opgen.sync.regions import regions
from opgen.slo.sli import le_values

BLUEPRINT_DESCRIPTOR = """\
apiVersion: opgen/v1
kind: Service
metadata: {{name: {name}, team: payments}}
spec:
  blueprint: {blueprint}
"""
REQUEST_BLUEPRINTS = ("http-api", "grpc-api", "queue-worker", "gpu-inference")  # cron-job: the job-run tests
CASES = [  # (descriptor, latency threshold to put in it instead of its own)
    pytest.param((EXAMPLES / "checkout" / "service.yaml", None), id="checkout"),
    pytest.param((TEST_DESCRIPTORS / "ecs-all-deps.yaml", None), id="ecs-all-deps"),  # every dependency kind, a queue consumer
    pytest.param((TEST_DESCRIPTORS / "gpu-inference.yaml", None), id="gpu-inference"),  # a KEDA request-rate trigger
    pytest.param((TEST_DESCRIPTORS / "grpc-7d.yaml", None), id="grpc-7d"),
    pytest.param((TEST_DESCRIPTORS / "queue-90d.yaml", None), id="queue-90d"),
    pytest.param((TEST_DESCRIPTORS / "queue-fresh.yaml", None), id="queue-fresh"),  # freshness 90s: not a default boundary
    pytest.param((TEST_DESCRIPTORS / "http-28d.yaml", None), id="http-28d"),  # 1s: le "1.0" against le=~"1|1[.]0"
    pytest.param((EXAMPLES / "checkout" / "service.yaml", "300ms"), id="checkout-300ms"),  # not a default boundary
    *(pytest.param((blueprint, None), id=f"blueprint-{blueprint}") for blueprint in REQUEST_BLUEPRINTS),
]
PLAYS = [pytest.param((*case.values[0], language), id=f"{case.id}-{language}", marks=case.marks)
         for case in CASES for language in drivers.LANGUAGES]
PROMETHEUS_OWN = {c.TARGET_UP_METRIC, "ALERTS", "ALERTS_FOR_STATE"}  # written by Prometheus, not scraped
TARGET_LABELS = {"job", "instance"}  # added by Prometheus at scrape time
PLATFORM_METRICS = {
    value for name, value in vars(c).items()
    if name.startswith(("K8S_", "GPU_", "ECS_", "LAMBDA_")) and isinstance(value, str)
}
GRAFANA_VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})")
PUSHGATEWAY = "prometheus-pushgateway"  # Debian's package and binary name
CRON_JOB = TEST_DESCRIPTORS / "cron-report.yaml"
AGE_PROBE_SECONDS = drivers.AGE_PROBE_SECONDS


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
    language: str = "python"

    def named(self, name: str, **labels: str) -> list[Sample]:
        return [s for s in self.samples if s.name == name and all(s.labels.get(k, "") == v for k, v in labels.items())]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descriptor_text(descriptor: Path | str, language: str, threshold: str | None = None) -> str:
    """The descriptor (a file, or a blueprint's name) with spec.runtime.language set, and every
    latency threshold set to `threshold` if given."""
    if isinstance(descriptor, str):
        text = BLUEPRINT_DESCRIPTOR.format(name=f"bp-{descriptor}", blueprint=descriptor)
    else:
        text = descriptor.read_text()
    if threshold:
        text = re.sub(r"threshold: \w+", f"threshold: {threshold}", text)
    yaml = YAML()  # round trip: comments and flow style stay
    data = yaml.load(text)
    data["spec"].setdefault("runtime", {})["language"] = language
    text = io.StringIO()
    yaml.dump(data, text)
    return text.getvalue()


def sync(tmp_path: Path, descriptor: Path | str, threshold: str | None = None, language: str = "python") -> Path:
    """`opgen sync` on a copy of descriptor (a file or a blueprint's name) in the given language."""
    folder = tmp_path / (descriptor if isinstance(descriptor, str) else descriptor.stem)
    folder.mkdir()
    (folder / "service.yaml").write_text(descriptor_text(descriptor, language, threshold))
    result = run_opgen("sync", folder.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


def play(folder: Path, language: str, gocache: Path) -> Played:
    """Run the language's driver against the generated stub and parse its scrape."""
    service = load_service(folder / "service.yaml")
    result = drivers.drive(language, folder, service, drivers.plan(service, language), folder.parent / "work",
                           gocache, OPGEN_METRICS_PORT=str(free_port()))
    assert result.returncode == 0, result.stderr
    return Played(folder, service, parse_scrape(result.stdout), language)


def thresholds(service: Service, kind: str) -> list:
    return drivers.thresholds(service, kind)


def parse_scrape(text: str) -> list[Sample]:
    return [
        Sample(s.name, {k: v for k, v in s.labels.items() if v != ""}, s.value)
        for family in text_string_to_metric_families(text) for s in family.samples
    ]


@pytest.fixture(scope="module", params=PLAYS)
def played(request, tmp_path_factory, go_cache) -> Played:
    descriptor, threshold, language = request.param
    drivers.require_toolchain(language)
    root = tmp_path_factory.mktemp("played")
    (root / "work").mkdir()
    return play(sync(root, descriptor, threshold, language), language, go_cache)


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


def keda_queries(played: Played) -> list[str]:
    """The PromQL of the Prometheus triggers of the KEDA ScaledObject, read with a real HCL parser."""
    path = played.folder / "ops" / c.terraform_path(played.service.name)
    if not path.is_file():
        return []
    found = []

    def visit(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "query" and isinstance(value, str):
                    found.append(json.loads(value))  # an HCL string literal, quotes and escapes as JSON's
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(hcl2.loads(path.read_text()))
    return found


def test_every_selector_of_the_keda_triggers_selects_a_scraped_series(played):
    service, queries = played.service, keda_queries(played)
    triggers = ()
    if terraform_autoscaling.autoscaler(service) == "keda":
        triggers, _ = terraform_autoscaling.keda_triggers(service, plan_capacity(service))
    assert sorted(queries) == sorted(dict(t.metadata)["query"].literal for t in triggers if t.type == "prometheus")
    assert unmatched_selectors(played, queries, set()) == []


def played_count(played: Played, metric: str, *matchers: str) -> Fraction:
    """What the scrape holds of `metric` whose labels match the matchers (PromQL label matchers)."""
    wanted = selectors("x{" + ",".join(matchers) + "}")[0].matchers.matchers if matchers else []
    return Fraction(sum(s.value for s in played.named(metric) if all(matches(m, s.labels) for m in wanted)))


def sli_from_scrape(played: Played, slo) -> tuple[Fraction, Fraction]:
    """(bad, total) events of the SLO, computed from the scrape as its rules compute them from the
    series: error matchers on the _count series, or the count minus the threshold's bucket."""
    sli = slo.sli
    metric = c.MESSAGE_AGE if sli.kind == "freshness" else c.REQUEST_METRICS[sli.interface]
    total = played_count(played, metric.count)
    if sli.kind == "availability":
        return sum((played_count(played, metric.count, *m.split(",")) for m in metric.error_matchers), Fraction(0)), total
    (le,) = {s.labels["le"] for s in played.named(metric.bucket)} & set(le_values(sli.threshold_seconds))
    return total - played_count(played, metric.bucket, f'le="{le}"'), total


def driven_events(played: Played, slo) -> tuple[int, int]:
    """(bad, total) events of the SLO in what the driver played (tests/stub_drivers.py)."""
    sli, language = slo.sli, played.language
    if sli.kind == "freshness":  # aged messages: fresh, failed, stale, from a clock ahead; one stale
        return 1, 4
    if sli.interface == "http":
        total, failed, slow = drivers.expected_http(language)
        return (failed if sli.kind == "availability" else slow), total
    if sli.interface == "grpc":  # one OK call, one UNAVAILABLE, both fast
        return (1 if sli.kind == "availability" else 0), 2
    return (1 if sli.kind == "availability" else 0), 5  # messages: one of five failed, all fast


def test_every_sli_computed_from_the_scrape_counts_the_failures_played(played):
    checked = [slo for slo in played.service.slos if slo.sli.kind in ("availability", "latency", "freshness")]
    assert checked or not played.service.slos
    for slo in checked:
        assert sli_from_scrape(played, slo) == driven_events(played, slo), slo.name


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
    if "queue-consumer" not in contract.declared_request_kinds(played.service):
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
    kinds = contract.declared_request_kinds(played.service)
    if "http" in kinds:
        http = c.REQUEST_METRICS["http"]
        unanswered = drivers.UNANSWERED_ERROR_TYPE[played.language]
        assert played.named(http.count, http_response_status_code="503", error_type="503")
        assert played.named(http.count, http_response_status_code="", error_type=unanswered)
        assert played.named(http.count, http_route="/orders/{id}"), "the app's route template is the route"
        assert played.named(http.count, http_request_method=contract.OTHER_HTTP_METHOD)
        assert {s.labels["http_request_method"] for s in played.named(http.count)} <= {"GET", "POST", contract.OTHER_HTTP_METHOD}
    if "queue-consumer" in kinds:
        queue = c.REQUEST_METRICS["queue-consumer"]
        assert played.named(queue.count, messaging_system="kafka", error_type="TimeoutError")
    if "grpc" in kinds:
        grpc = c.REQUEST_METRICS["grpc"]
        assert played.named(grpc.count, rpc_response_status_code="UNAVAILABLE", error_type="Unavailable")
        assert played.named(grpc.count, rpc_response_status_code="OK", rpc_method="shop.Inventory/Get", rpc_system_name="grpc")


def test_each_dependency_is_its_own_peer_service_with_its_system_and_errors(played):
    for dependency in played.service.dependencies:
        metric = c.DEPENDENCY_METRICS[dependency.kind]
        system = dict([metric.system]) if metric.system else {}
        calls = played.named(metric.count, **{c.PEER_LABEL: dependency.name}, **system)
        assert {s.labels.get("error_type", "") for s in calls} >= {"", "Unavailable" if dependency.kind == "grpc" else "ConnectionError"}
        if metric.histogram == "http_client_request_duration_seconds":
            assert [s for s in calls if s.labels.get("error_type") == "503" and s.labels["http_response_status_code"] == "503"]
        if metric.histogram == "rpc_client_call_duration_seconds":
            assert {s.labels["rpc_response_status_code"] for s in calls} == {"OK", "UNAVAILABLE"}


def test_the_resource_names_the_service_its_team_and_tier(played):
    service = played.service
    (info,) = played.named("target_info")
    assert {k: info.labels.get(k) for k in ("service_name", "service_namespace", c.LABEL_TEAM, c.LABEL_TIER)} == {
        "service_name": service.name, "service_namespace": service.namespace,
        c.LABEL_TEAM: service.team, c.LABEL_TIER: str(service.tier)}


def test_every_histogram_has_the_contracts_boundaries(played):
    """The buckets the scrape holds are exactly the contract's, in every language."""
    for histogram in contract.service_contract(played.service).histograms:
        samples = played.named(histogram.prometheus_name + "_bucket")
        if samples:
            seen = {Fraction(s.labels["le"]) for s in samples if s.labels["le"] != "+Inf"}
            assert seen == set(histogram.boundaries), histogram.otel_name


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
    return Played(played.folder, played.service, group, played.language)


JOBS = [pytest.param((job, language), id=f"{name}-{language}")
        for job, name in ((CRON_JOB, "cron-report"), ("cron-job", "blueprint-cron-job")) for language in drivers.LANGUAGES]


def run_job(folder: Path, language: str, outcome: str, gocache: Path, gateway: str) -> subprocess.CompletedProcess:
    service = load_service(folder / "service.yaml")
    work = folder.parent / "work"
    work.mkdir(exist_ok=True)
    return drivers.drive(language, folder, service, {"job_run": outcome}, work, gocache, OPGEN_PUSHGATEWAY_URL=gateway)


@pytest.fixture(scope="module", params=JOBS)
def job_runs(request, pushgateway, tmp_path_factory, go_cache) -> JobRuns:
    job, language = request.param
    drivers.require_toolchain(language)
    folder = sync(tmp_path_factory.mktemp("cron"), job, language=language)
    service = load_service(folder / "service.yaml")
    scrapes = []
    for outcome in ("success", "failure"):
        result = run_job(folder, language, outcome, go_cache, pushgateway)
        assert result.returncode == 0 and "could not push" not in result.stderr, result.stderr
        scrapes.append(scrape_job_group(pushgateway, Played(folder, service, [], language)))
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


@pytest.mark.parametrize("language", drivers.LANGUAGES)
def test_an_unreachable_pushgateway_is_a_warning_never_a_failed_run(tmp_path, language, go_cache):
    drivers.require_toolchain(language)
    folder = sync(tmp_path, CRON_JOB, language=language)
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for outcome in ("success", "failure"):  # the driver fails unless a failed run re-raises the job's exception
        result = run_job(folder, language, outcome, go_cache, nowhere)
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


@pytest.mark.parametrize("language", ("go", "node"))
def test_the_stub_checks_clean_keeps_its_regions_at_column_0_and_is_the_same_every_time(tmp_path, language, go_cache):
    drivers.require_toolchain(language)
    descriptor = TEST_DESCRIPTORS / "ecs-all-deps.yaml"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = sync(tmp_path / "a", descriptor, language=language), sync(tmp_path / "b", descriptor, language=language)
    path = Path("ops") / c.telemetry_path("orders", language)
    text = (first / path).read_text()
    assert text == (second / path).read_text()
    assert text.startswith("// Generated by opgen from service.yaml.")
    lines = text.splitlines()
    assert lines.index("// opgen:keep imports") + 1 == lines.index("// opgen:end")
    assert lines[-2:] == ["// opgen:keep custom", "// opgen:end"]
    assert regions(text, path) == {"imports": "", "custom": ""}
    assert not (first / "ops" / c.telemetry_path("orders")).exists(), "a Python module for a service that is not Python"
    if language == "go":  # gofmt-clean, or gofmt would move the markers; vet compiles it
        formatted = subprocess.run(["gofmt", "-l", str(first / path)], capture_output=True, text=True)
        assert formatted.returncode == 0 and formatted.stdout == "", formatted.stdout + formatted.stderr
        vetted = drivers.vet_go_package((first / path).parent, tmp_path / "vet", go_cache)
        assert vetted.returncode == 0, vetted.stdout + vetted.stderr
    else:
        checked = subprocess.run(["node", "--check", str(first / path)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


# Top-level names the Go and Node.js stubs define (generated code: one form per line, at column 0).
TOP_LEVEL = {
    "go": re.compile(r"^(?:func|const|var|type) (\w+)", re.MULTILINE),
    "node": re.compile(r"^(?:function|const|class|async function) (\w+)", re.MULTILINE),
}
RENDERERS = {"go": otel_go, "node": otel_node}


@pytest.mark.parametrize("language", ("go", "node"))
def test_the_go_and_node_renderers_know_every_name_their_stub_defines(language):
    """Dependency helpers are renamed when they would take one of these."""
    renderer = RENDERERS[language]
    for descriptor in (TEST_DESCRIPTORS / "ecs-all-deps.yaml", TEST_DESCRIPTORS / "grpc-7d.yaml", CRON_JOB):
        service = dataclasses.replace(load_service(descriptor), language=language)
        (artifact,) = renderer.render(RenderContext(service, "service.yaml"))
        defined = set(TOP_LEVEL[language].findall(artifact.text))
        helpers = {h.function for h in renderer.dependency_helpers(contract.service_contract(service))}
        assert helpers <= defined
        if language == "go":  # what another package can call
            assert {name for name in defined - helpers if name[0].isupper()} <= otel_go.TEMPLATE_NAMES
        else:  # upper-case constants a dependency name (lower-case) can never be
            assert {name for name in defined - helpers if not name.isupper()} <= otel_node.TEMPLATE_NAMES


def test_each_stub_renderer_is_registered_and_named_after_its_language():
    """A language is one module render/otel_<language>.py (and its template), registered once."""
    from opgen.descriptor.spec import LANGUAGES
    from opgen.render import renderers, stub_languages

    stubs = [sys.modules[r.__module__] for r in renderers() if r.__module__.rsplit(".", 1)[-1].startswith("otel_")]
    assert sorted(m.LANGUAGE for m in stubs) == sorted(stub_languages()) and stub_languages() < set(LANGUAGES)
    assert all(m.__name__ == f"opgen.render.otel_{m.LANGUAGE}" for m in stubs)


def test_a_service_that_changes_language_gets_the_new_stub_and_keeps_the_teams_code_aside(tmp_path):
    """Python code cannot go into a Go package: the old module is deleted, its regions kept as orphans."""
    folder = sync(tmp_path, TEST_DESCRIPTORS / "http-28d.yaml")
    module = folder / "ops" / c.telemetry_path("search")
    module.write_text(module.read_text().replace("# opgen:keep custom\n", "# opgen:keep custom\ndef mine():\n    return 1\n"))
    (folder / "service.yaml").write_text(descriptor_text(folder / "service.yaml", "go"))
    result = run_opgen("sync", folder.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not module.exists() and (folder / "ops" / c.telemetry_path("search", "go")).is_file()
    orphans = [p for p in (folder / "ops" / c.ORPHANS_DIR).rglob("*") if p.is_file()]
    assert [p for p in orphans if "def mine():" in p.read_text()], orphans


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
HOSTILE_DESCRIPTION = ('It\'s "quoted"\n""" \'\'\' \\ \\n {{ x }} {% if %} # opgen:end\r\u2028 [31m done'
                       '\n// opgen:keep x\n*/ ` ${y} \u2029 \t')
HOSTILE_DEPENDENCIES = {  # names the language or the stub already uses, and a name the first renaming takes
    "python": {"setup": "setup_dependency", "import": "import_dependency", "type": "type_dependency",
               "setup-dependency": "setup_dependency_dependency", "os": "os_dependency"},
    "go": {"setup": "SetupDependency", "registry": "RegistryDependency", "call": "CallDependency",
           "setup-dependency": "SetupDependencyDependency", "handler": "HandlerDependency"},
    "node": {"setup": "setupDependency", "delete": "deleteDependency", "process": "processDependency",
             "setup-dependency": "setupDependencyDependency", "exports": "exportsDependency"},
}


def hostile_kit(tmp_path: Path, language: str) -> Path:
    folder = tmp_path / "hostile"
    folder.mkdir()
    dependencies = ", ".join(f"{{name: {name}, kind: redis}}" for name in HOSTILE_DEPENDENCIES[language])
    (folder / "service.yaml").write_text(
        "apiVersion: opgen/v1\nkind: Service\n"
        f"metadata: {{name: hostile, team: red-team, tier: 2, description: {json.dumps(HOSTILE_DESCRIPTION)}}}\n"
        f"spec:\n  runtime: {{language: {language}}}\n  interfaces: [{{kind: http}}, {{kind: queue-consumer}}]\n"
        f"  dependencies: [{dependencies}]\n"
    )
    result = run_opgen("sync", "hostile", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


def test_hostile_descriptor_text_still_makes_a_module_that_imports(tmp_path):
    folder = hostile_kit(tmp_path, "python")
    module = folder / "ops" / c.telemetry_path("hostile")
    show = "import json, hostile_telemetry as t; print(json.dumps([t.SERVICE_DESCRIPTION, t.setup.__doc__, [{}]]))".format(
        ", ".join(f"t.{function}.__name__" for function in HOSTILE_DEPENDENCIES["python"].values()))
    shown = subprocess.run([sys.executable, "-c", show], env=drivers.without_otel_settings(PYTHONPATH=str(module.parent)),
                           capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    description, setup_doc, helpers = json.loads(shown.stdout)
    assert description == HOSTILE_DESCRIPTION
    assert setup_doc.startswith("Install the SDK")
    assert helpers == list(HOSTILE_DEPENDENCIES["python"].values())
    assert set(regions(module.read_text(), module.name)) == {"imports", "custom"}


GO_SHOW = """package main

import (
\t"encoding/json"
\t"fmt"

\ttelemetry "opgen.test/hostiletelemetry"
)

func main() {
\thelpers := []func() *telemetry.Call{%s}
\ttext, _ := json.Marshal([]interface{}{telemetry.ServiceDescription, len(helpers)})
\tfmt.Println(string(text))
}
"""


@pytest.mark.parametrize("language", ("go", "node"))
def test_hostile_descriptor_text_still_makes_a_go_or_node_stub_that_builds(tmp_path, language, go_cache):
    """The description comes back unchanged from the stub's constant, and no text of the descriptor
    forms a keep-region marker."""
    drivers.require_toolchain(language)
    folder = hostile_kit(tmp_path, language)
    service = load_service(folder / "service.yaml")
    stub = drivers.stub_path(folder, service, language)
    helpers = list(HOSTILE_DEPENDENCIES[language].values())
    if language == "go":
        functions = ", ".join(f"telemetry.{name}" for name in helpers)
        binary = drivers.build_go_program(stub.parent, {"main.go": GO_SHOW % functions}, tmp_path / "work", go_cache)
        shown = subprocess.run([str(binary)], capture_output=True, text=True)
        expected = [HOSTILE_DESCRIPTION, len(helpers)]
    else:
        show = (f"const t = require({json.dumps(str(stub))}); console.log(JSON.stringify([t.SERVICE_DESCRIPTION, "
                f"{json.dumps(helpers)}.map((name) => typeof t[name])]))")
        shown = subprocess.run(["node", "-e", show], env=drivers.node_environment(), capture_output=True, text=True)
        expected = [HOSTILE_DESCRIPTION, ["function"] * len(helpers)]
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == expected
    assert set(regions(stub.read_text(), stub.name)) == {"imports", "custom"}
