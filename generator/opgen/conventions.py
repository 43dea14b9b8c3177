"""Every metric, label, rule, alert and file name opgen uses: the single source.

Renderers, tests and (later) dashboards and instrumentation read names from here, so they agree.
Metric names follow the OpenTelemetry semantic conventions as the Prometheus exporter writes them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction

# --- metrics emitted by the service (the metric contract, docs/metrics.md) -------------------


@dataclass(frozen=True)
class DurationHistogram:
    """An OTel duration histogram as Prometheus stores it, and how to tell failures in it."""

    histogram: str  # base name; Prometheus adds _bucket, _count, _sum
    otel_name: str
    error_matchers: tuple[str, ...]  # disjoint label matchers that together select failures

    @property
    def count(self) -> str:
        return self.histogram + "_count"

    @property
    def bucket(self) -> str:
        return self.histogram + "_bucket"


@dataclass(frozen=True)
class RequestMetric(DurationHistogram):
    """The server side: requests the service answers."""

    labels: tuple[str, ...] = ()
    ok_example: tuple[tuple[str, str], ...] = ()  # labels of a successful request (instrumentation, tests)
    failed_examples: tuple[tuple[tuple[str, str], ...], ...] = ()  # labels of failed ones, one per error matcher


REQUEST_METRICS = {
    "http": RequestMetric(
        histogram="http_server_request_duration_seconds",
        otel_name="http.server.request.duration",
        # 5xx answers, plus requests that failed without an answer (error.type set, no 5xx status).
        error_matchers=('http_response_status_code=~"5.."', 'http_response_status_code!~"5..",error_type!=""'),
        labels=("http_request_method", "http_route", "http_response_status_code"),
        ok_example=(("http_request_method", "GET"), ("http_route", "/"), ("http_response_status_code", "200")),
        failed_examples=(
            (("http_request_method", "GET"), ("http_route", "/"), ("http_response_status_code", "503"), ("error_type", "503")),
            (("http_request_method", "GET"), ("http_route", "/"), ("error_type", "TimeoutError")),
        ),
    ),
    "grpc": RequestMetric(
        histogram="rpc_server_call_duration_seconds",
        otel_name="rpc.server.call.duration",
        # Status codes that mean the server failed (semantic conventions 1.37+: rpc.response.status_code).
        error_matchers=('rpc_response_status_code=~"UNKNOWN|DEADLINE_EXCEEDED|UNIMPLEMENTED|INTERNAL|UNAVAILABLE|DATA_LOSS"',),
        labels=("rpc_system_name", "rpc_method", "rpc_response_status_code"),
        ok_example=(("rpc_system_name", "grpc"), ("rpc_method", "shop.Inventory/Get"), ("rpc_response_status_code", "OK")),
        failed_examples=((("rpc_system_name", "grpc"), ("rpc_method", "shop.Inventory/Get"), ("rpc_response_status_code", "UNAVAILABLE")),),
    ),
    "queue-consumer": RequestMetric(
        histogram="messaging_process_duration_seconds",
        otel_name="messaging.process.duration",
        error_matchers=('error_type!=""',),
        labels=("messaging_system", "messaging_destination_name", "error_type"),
        ok_example=(("messaging_system", "kafka"), ("messaging_destination_name", "jobs")),
        failed_examples=((("messaging_system", "kafka"), ("messaging_destination_name", "jobs"), ("error_type", "timeout")),),
    ),
}

# Histogram bucket boundaries in seconds (OTel HTTP advisory boundaries); every SLO latency
# threshold is added to them by the generated instrumentation.
DEFAULT_BUCKETS_SECONDS = (
    Fraction(5, 1000), Fraction(1, 100), Fraction(25, 1000), Fraction(5, 100), Fraction(75, 1000),
    Fraction(1, 10), Fraction(25, 100), Fraction(5, 10), Fraction(75, 100), Fraction(1), Fraction(25, 10),
    Fraction(5), Fraction(75, 10), Fraction(10),
)

TARGET_UP_METRIC = "up"

# Queue consumers: how old each message was when processing started (now - enqueue time). Not in
# the semantic conventions; named in their style. A freshness SLO counts messages older than its
# threshold, so the threshold is added to these boundaries.
MESSAGE_AGE = DurationHistogram(
    histogram="messaging_message_age_seconds",
    otel_name="messaging.message.age",
    error_matchers=(),
)
MESSAGE_AGE_LABELS = ("messaging_system", "messaging_destination_name")
MESSAGE_AGE_EXAMPLE = (("messaging_system", "kafka"), ("messaging_destination_name", "jobs"))  # for tests
MESSAGE_AGE_BUCKETS_SECONDS = tuple(Fraction(s) for s in (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600))

# Cron jobs: a run ends before any scrape, so the generated job module pushes these gauges to a
# Prometheus Pushgateway at the end of each run (Prometheus' advice for batch jobs), grouped by
# job="<service>"; Prometheus scrapes the Pushgateway with honor_labels: true. A failed run
# replaces only the completion and duration gauges, so the last success survives it.
JOB_LAST_SUCCESS = "cronjob_last_success_timestamp_seconds"
JOB_LAST_COMPLETION = "cronjob_last_completion_timestamp_seconds"  # success or failure
JOB_LAST_DURATION = "cronjob_last_duration_seconds"
JOB_PUSH_TIME = "push_time_seconds"  # the Pushgateway's own gauge: when a group was last pushed
JOB_METRICS = (JOB_LAST_SUCCESS, JOB_LAST_COMPLETION, JOB_LAST_DURATION)
TIME_SLICE = "1m"  # resolution of time-based SLIs: each minute is good or bad

# --- client-side metrics of calls to dependencies ------------------------------------------------

PEER_LABEL = "peer_service"  # OTel attribute peer.service: the dependency's name as in the descriptor
PEER_ATTRIBUTE = "peer.service"

# The OTel attribute behind each Prometheus label of the contract. The exporter turns dots into
# underscores, but not every underscore was a dot (http.response.status_code), so this is a table;
# the instrumentation tests check it against the opentelemetry-semconv package.
OTEL_ATTRIBUTES = {
    "http_request_method": "http.request.method",
    "http_route": "http.route",
    "http_response_status_code": "http.response.status_code",
    "error_type": "error.type",
    "rpc_system_name": "rpc.system.name",
    "rpc_method": "rpc.method",
    "rpc_response_status_code": "rpc.response.status_code",
    "messaging_system": "messaging.system",
    "messaging_destination_name": "messaging.destination.name",
    "db_system_name": "db.system.name",
    PEER_LABEL: PEER_ATTRIBUTE,
}


@dataclass(frozen=True)
class ClientMetric(DurationHistogram):
    """The client side: calls the service makes to one kind of dependency."""

    system: tuple[str, str] | None = None  # (label, value) naming the technology, e.g. db_system_name="postgresql"
    latency_threshold_seconds: Fraction = Fraction(1)  # p99 above this for 15m raises DependencyLatencyHigh
    buckets_seconds: tuple[Fraction, ...] = ()
    ok_example: tuple[tuple[str, str], ...] = ()  # labels of a successful call (instrumentation, tests)
    failed_example: tuple[tuple[str, str], ...] = (("error_type", "TimeoutError"),)  # matched by error_matchers


_HTTP_BUCKETS = DEFAULT_BUCKETS_SECONDS
_DB_BUCKETS = (Fraction(1, 1000), Fraction(5, 1000), Fraction(1, 100), Fraction(5, 100), Fraction(1, 10),
               Fraction(5, 10), Fraction(1), Fraction(5), Fraction(10))
_FAILED_WITH_ERROR_TYPE = ('error_type!=""',)


def _db(system: str) -> ClientMetric:
    return ClientMetric("db_client_operation_duration_seconds", "db.client.operation.duration",
                        _FAILED_WITH_ERROR_TYPE, ("db_system_name", system), Fraction(1, 2), _DB_BUCKETS)


def _messaging(system: str) -> ClientMetric:
    return ClientMetric("messaging_client_operation_duration_seconds", "messaging.client.operation.duration",
                        _FAILED_WITH_ERROR_TYPE, ("messaging_system", system), Fraction(1), _HTTP_BUCKETS)


_HTTP_CLIENT = ClientMetric(
    "http_client_request_duration_seconds", "http.client.request.duration",
    ('http_response_status_code=~"5.."', 'http_response_status_code!~"5..",error_type!=""'),
    None, Fraction(1), _HTTP_BUCKETS,
    ok_example=(("http_request_method", "GET"), ("http_response_status_code", "200")),
    failed_example=(("http_request_method", "GET"), ("http_response_status_code", "503"), ("error_type", "503")),
)

DEPENDENCY_METRICS = {
    "postgres": _db("postgresql"),
    "mysql": _db("mysql"),
    "redis": _db("redis"),
    "kafka": _messaging("kafka"),
    "rabbitmq": _messaging("rabbitmq"),
    "sqs": _messaging("aws_sqs"),
    "http": _HTTP_CLIENT,
    "s3": _HTTP_CLIENT,
    "grpc": ClientMetric(
        "rpc_client_call_duration_seconds", "rpc.client.call.duration",
        ('rpc_response_status_code=~"UNKNOWN|DEADLINE_EXCEEDED|UNIMPLEMENTED|INTERNAL|UNAVAILABLE|DATA_LOSS"',),
        ("rpc_system_name", "grpc"), Fraction(1), _HTTP_BUCKETS,
        ok_example=(("rpc_response_status_code", "OK"),),
        failed_example=(("rpc_response_status_code", "UNAVAILABLE"),),
    ),
}
DEPENDENCY_ERROR_RATIO_THRESHOLD = Fraction(5, 100)  # share of failed calls, over 5m, for 10m


def dependency_matchers(service_selector: str, dependency: str, kind: str) -> tuple[str, ...]:
    """The client series of calls to one dependency: the service's own, with the dependency's name
    (and, where the kind has one, its system label)."""
    metric = DEPENDENCY_METRICS[kind]
    system = (f'{metric.system[0]}="{metric.system[1]}"',) if metric.system else ()
    return (service_selector, f'{PEER_LABEL}="{dependency}"', *system)

# --- saturation: what the platform exports about the service's containers ---------------------
# Kubernetes: cAdvisor (kubelet) and kube-state-metrics; GPUs: NVIDIA DCGM exporter.
# ECS and Lambda: CloudWatch metrics as the prometheus cloudwatch-exporter / YACE name them.

K8S_CPU_USAGE = "container_cpu_usage_seconds_total"
K8S_MEMORY_WORKING_SET = "container_memory_working_set_bytes"
K8S_RESOURCE_LIMITS = "kube_pod_container_resource_limits"
K8S_HPA_CURRENT_REPLICAS = "kube_horizontalpodautoscaler_status_current_replicas"
K8S_HPA_MAX_REPLICAS = "kube_horizontalpodautoscaler_spec_max_replicas"
K8S_HPA_MIN_REPLICAS = "kube_horizontalpodautoscaler_spec_min_replicas"
GPU_UTILIZATION = "DCGM_FI_DEV_GPU_UTIL"  # percent
GPU_MEMORY_USED = "DCGM_FI_DEV_FB_USED"  # MiB
GPU_MEMORY_FREE = "DCGM_FI_DEV_FB_FREE"  # MiB
ECS_CPU_UTILIZATION = "aws_ecs_cpuutilization_average"  # percent, per ECS service
ECS_MEMORY_UTILIZATION = "aws_ecs_memory_utilization_average"
LAMBDA_THROTTLES = "aws_lambda_throttles_sum"
LAMBDA_CONCURRENT_EXECUTIONS = "aws_lambda_concurrent_executions_maximum"
SATURATION_THRESHOLD = Fraction(9, 10)  # of a limit, for 15m


def k8s_pod_matchers(namespace: str, service: str) -> tuple[str, str]:
    """The pods of the Deployment named after the service: <name>-<replica set hash>-<5 characters>,
    so that `checkout` does not also match the pods of a `checkout-worker` Deployment."""
    return (f'namespace="{namespace}"', f'pod=~"{service}-[a-z0-9]{{5,10}}-[a-z0-9]{{5}}"')


K8S_EXAMPLE_POD_SUFFIX = "-7d9f8b6c5d-x2x4z"  # a pod name that k8s_pod_matchers selects, for tests


def k8s_hpa_matchers(namespace: str, service: str) -> tuple[str, str]:
    """kube-state-metrics' series of the HorizontalPodAutoscaler named after the service."""
    return (f'namespace="{namespace}"', f'horizontalpodautoscaler="{service}"')


def ecs_service_matchers(cluster: str, service: str) -> tuple[str, str]:
    """CloudWatch dimensions of an ECS service, as the exporter labels them."""
    return (f'dimension_ClusterName="{cluster}"', f'dimension_ServiceName="{service}"')


def lambda_function_matchers(function: str) -> tuple[str]:
    return (f'dimension_FunctionName="{function}"',)

# --- labels opgen puts on its own series and alerts ------------------------------------------

LABEL_SERVICE = "service"
LABEL_SLO = "slo"
LABEL_TEAM = "team"
LABEL_TIER = "tier"
LABEL_SEVERITY = "severity"
LABEL_LONG_WINDOW = "long_window"
LABEL_SHORT_WINDOW = "short_window"
LABEL_CAUSE = "cause"

SEVERITY_PAGE = "page"
SEVERITY_TICKET = "ticket"
UNASSIGNED_TEAM = "unassigned"  # new-service's team when none is given: a placeholder, warned about on tiers 1 and 2

# --- recording rules ---------------------------------------------------------------------------

def sli_errors_rate(window: str) -> str:
    """Bad events per second over `window`, e.g. slo:sli_errors:rate5m (recorded for the raw windows)."""
    return f"slo:sli_errors:rate{window}"


def sli_requests_rate(window: str) -> str:
    """All events per second over `window`, e.g. slo:sli_requests:rate1h (recorded for the raw windows)."""
    return f"slo:sli_requests:rate{window}"


SLI_ERRORS_RATE5M = sli_errors_rate("5m")
SLI_REQUESTS_RATE5M = sli_requests_rate("5m")
# When the SLO's 5m recordings began (Unix seconds): how much of a long window they cover.
SLI_HISTORY_START = "slo:sli_history_start:timestamp"
# An SLO whose budget leaves planned maintenance out (slo/maintenance_mask.py): the wall clock of
# the maintenance's time zone (Unix seconds as if local times were UTC), and 1 while a window is
# on (its 5m recordings pause).
MAINTENANCE_WALL_CLOCK = "slo:maintenance_wall_clock:seconds"
MAINTENANCE_ACTIVE = "slo:maintenance:active"
OBJECTIVE = "slo:objective:ratio"
ERROR_BUDGET = "slo:error_budget:ratio"
CURRENT_BURN_RATE = "slo:current_burn_rate:ratio"
PERIOD_BURN_RATE = "slo:period_burn_rate:ratio"
PERIOD_BUDGET_REMAINING = "slo:period_error_budget_remaining:ratio"


def sli_error_ratio(window: str) -> str:
    """Share of bad events over `window`, e.g. slo:sli_error:ratio_rate5m."""
    return f"slo:sli_error:ratio_rate{window}"


# Recorded series carry these labels only. Ownership (team, tier) is on the alerts, from the rule
# labels: on a recording it would split the series whenever the team or tier changes, and the long
# windows would fail while both versions are in them.
RECORDING_LABELS = (LABEL_SERVICE, LABEL_SLO)


# --- alerts ----------------------------------------------------------------------------------

ALERT_NAME_LIMIT = 40  # mixtool lint


def camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("-"))


SLO_ALERT_SUFFIXES = ("BudgetBurn", "BudgetExhausted")  # an SLO's alerts: its CamelCase name + suffix


def alert_budget_burn(slo_name: str) -> str:
    return camel(slo_name) + SLO_ALERT_SUFFIXES[0]


def alert_budget_exhausted(slo_name: str) -> str:
    return camel(slo_name) + SLO_ALERT_SUFFIXES[1]


ALERT_NO_DATA = "SLONoData"
ALERT_DEPENDENCY_ERRORS = "DependencyErrorRatioHigh"
ALERT_DEPENDENCY_LATENCY = "DependencyLatencyHigh"
ALERT_CPU_NEAR_LIMIT = "CPUNearLimit"
ALERT_MEMORY_NEAR_LIMIT = "MemoryNearLimit"
ALERT_REPLICAS_AT_MAX = "ReplicasAtMaximum"
ALERT_GPU_MEMORY_NEAR_LIMIT = "GPUMemoryNearLimit"
ALERT_GPU_SATURATED = "GPUUtilizationHigh"
ALERT_LAMBDA_THROTTLED = "LambdaThrottled"

LABEL_DEPENDENCY = "dependency"
LABEL_DEPENDENCY_KIND = "dependency_kind"

# --- files and groups ------------------------------------------------------------------------

OPS_DIR = "ops"
MANIFEST_PATH = ".opgen/manifest.json"  # inside the output folder
OLD_BASE_DIR = ".opgen/base"  # where opgen before manifest version 3 kept a copy of what it wrote (sync/base.py)
ORPHANS_DIR = ".opgen/orphans"  # keep-region content whose place disappeared
LOCK_PATH = ".opgen/lock"
PENDING_PATH = ".opgen/pending.json"  # the write-ahead journal of a sync in progress
STAT_CACHE_PATH = ".opgen/stat-cache.json"  # per machine, not committed: sync/stat_cache.py
STATE_GITIGNORE = ".opgen/.gitignore"
STATE_DIR = ".opgen"  # every path above lives in it
# Keep-regions each kind of file declares (sync/regions.py): the runbook pages' notes, the
# instrumentation module's own imports and code.
RUNBOOK_REGIONS = ("notes",)
TELEMETRY_REGIONS = ("imports", "custom")
DESCRIPTOR_FILENAMES = ("service.yaml",)
DESCRIPTOR_SUFFIX = ".opgen.yaml"


# With opgen-settings.yaml `clusters`, a service's rules are split by who evaluates them: each
# cluster's Prometheus (the recordings over raw series) or the global ruler (the rest).
EVALUATION_CLUSTER, EVALUATION_GLOBAL = "cluster", "global"
EVALUATION_LABEL = "opgen.dev/evaluation"  # on PrometheusRule objects, for a ruleSelector


def rules_path(service: str, evaluation: str | None = None) -> str:
    return f"prometheus/{service}.{evaluation}.rules.yml" if evaluation else f"prometheus/{service}.rules.yml"


def rules_test_path(service: str, evaluation: str | None = None) -> str:
    return f"prometheus/{service}.{evaluation}.rules.test.yml" if evaluation else f"prometheus/{service}.rules.test.yml"


RUNBOOKS_DIR = "runbooks"  # in the output folder


def runbook_path(service: str, alert: str) -> str:
    return f"{RUNBOOKS_DIR}/{service}/{alert}.md"


def runbook_overview_path(service: str) -> str:
    return f"{RUNBOOKS_DIR}/{service}/README.md"


def dashboard_path(service: str) -> str:
    return f"grafana/{service}.json"


def telemetry_path(service: str, language: str = "python") -> str:
    """The instrumentation stub, named as its language imports it: the Python and Node.js module
    <name>_telemetry (hyphens become underscores), the Go package folder <name>telemetry."""
    if language == "go":
        return f"otel/{go_telemetry_package(service)}/telemetry.go"
    extension = {"python": "py", "node": "js"}[language]
    return f"otel/{service.replace('-', '_')}_telemetry.{extension}"


def go_telemetry_package(service: str) -> str:
    """A Go package name: lower case, no hyphens or underscores (checkout-api -> checkoutapitelemetry)."""
    return service.replace("-", "") + "telemetry"


def openslo_path(service: str) -> str:
    return f"slo/{service}.openslo.yaml"


def terraform_path(service: str) -> str:
    return f"terraform/{service}_autoscaling.tf"


def rule_group(service: str, slo: str | None, part: str) -> str:
    return f"{service}-slo-{slo}-{part}" if slo else f"{service}-{part}"


def dashboard_uid(service: str) -> str:
    """Grafana uids are at most 40 characters; long names keep a hash so they stay unique."""
    uid = f"opgen-{service}"
    if len(uid) <= 40:
        return uid
    digest = hashlib.sha256(service.encode()).hexdigest()[:8]
    return f"opgen-{service[:24]}-{digest}"


def dashboard_tag(service: str) -> str:
    """The tag that names the service's dashboard (Backstage's Grafana card selects on tags): its uid,
    unique and short enough for Grafana's 50-character tags."""
    return dashboard_uid(service)


def runbook_url(base_url: str | None, service: str, alert: str | None = None) -> str:
    """Every runbook link opgen writes (alerts, dashboard, Backstage, runbooks): `base_url` is where
    the output folder's runbooks/ is browsable (Service.runbook_base_url, from opgen-settings.yaml
    or the descriptor). Without it, the page's path from the descriptor's folder, which no
    notification or dashboard can open (validate warns). No alert: the overview page."""
    path = runbook_path(service, alert) if alert else runbook_overview_path(service)
    if base_url:
        return f"{base_url.rstrip('/')}/{path.removeprefix(RUNBOOKS_DIR + '/')}"
    return f"{OPS_DIR}/{path}"


def runbook_overview_url(base_url: str | None, service: str) -> str:
    return runbook_url(base_url, service)


def dashboard_url(grafana_url: str, service: str) -> str:
    return f"{grafana_url.rstrip('/')}/d/{dashboard_uid(service)}/{service}"


def blackbox_config_path(service: str) -> str:
    """The blackbox exporter's config with the service's probe module (blackbox_exporter --config.file)."""
    return f"blackbox/{service}.blackbox.yml"


def probe_scrape_config_path(service: str) -> str:
    """The Prometheus scrape job that asks the blackbox exporter to probe the service (scrape_config_files)."""
    return f"blackbox/{service}.scrape.yml"


def probe_module(service: str) -> str:
    return f"opgen_{service.replace('-', '_')}_http"


def probe_job(service: str) -> str:
    """Its own job, so probe_success and friends never match the service's selector (job="<service>")."""
    return f"{service}-probe"


def probe_url(service: str, namespace: str, port: int | None, path: str) -> str:
    """Where a Kubernetes service answers inside the cluster."""
    return f"http://{service}.{namespace}.svc{f':{port}' if port else ''}{path}"


BLACKBOX_PROBE_TIMEOUT = "5s"


def catalog_info_path(service: str) -> str:
    """The Backstage entity: under ops/ like every artifact, so a Location must point at it."""
    return f"backstage/{service}.catalog-info.yaml"


# --- fleet artifacts: one per sync, built from all of its services ------------------------------

# The manifest owner of fleet files. Service names are DNS labels, which never hold parentheses.
FLEET_OWNER = "(fleet)"
RULES_FORMATS = ("prometheus", "prometheus-operator", "mimir")
DEFAULT_RULES_FORMAT = "prometheus"
ALERTMANAGER_CONFIG_PATH = "alertmanager/routes.yml"
# Secrets are never in the config: each receiver points at a file the deployment mounts here.
ALERTMANAGER_SECRETS_DIR = "/etc/alertmanager/secrets"
MAINTENANCE_INTERVAL_SUFFIX = "-maintenance"  # the Alertmanager time interval of a service's planned maintenance
DEFAULT_RECEIVER = "opgen-default"  # alerts of teams without on-call data, and of no known team
DEFAULT_ALERT_CHANNEL = "#alerts"
UNROUTED_PAGES_RECEIVER = "opgen-unrouted-pages"  # pages that reach no pager nor team channel: loud, in DEFAULT_ALERT_CHANNEL
# prometheus-operator: the labels of every generated PrometheusRule, for a Prometheus ruleSelector.
PROMETHEUSRULE_LABELS = {"app.kubernetes.io/managed-by": "opgen", "role": "alert-rules"}


def prometheusrule_path(service: str, evaluation: str | None = None) -> str:
    return f"kubernetes/{service}.{evaluation}.prometheusrule.yaml" if evaluation else f"kubernetes/{service}.prometheusrule.yaml"


def ruler_namespace_path(team: str) -> str:
    """A Mimir / Cortex ruler namespace (`mimirtool rules load`): one per team, in the fleet folder."""
    return f"mimir/{team}.rules.yaml"


def pager_receiver(team: str, pagerduty_service_id: str | None = None) -> str:
    return f"{team}-pager" + (f"-{pagerduty_service_id.lower()}" if pagerduty_service_id else "")


def chat_receiver(team: str, channel: str | None = None) -> str:
    return f"{team}-chat" + (f"-{channel.lstrip('#')}" if channel else "")


def maintenance_interval(service: str) -> str:
    """The Alertmanager time interval holding `service`'s planned maintenance windows."""
    return f"{service}{MAINTENANCE_INTERVAL_SUFFIX}"


# --- journeys (fleet documents of kind Journey: opgen/journeys.py) ---------------------------

LABEL_JOURNEY = "journey"
JOURNEYS_DIR = "journeys"  # in the fleet folder
ALERT_JOURNEY_BURN = "JourneyBudgetBurn"
ALERT_JOURNEY_STEP_MISSING = "JourneyStepRulesMissing"  # a step's rules are not loaded: the journey cannot see it
JOURNEY_DASHBOARD_UID = "opgen-journeys"


def journey_rule_group(journey: str, part: str) -> str:
    """A journey's rule group, e.g. journey:checkout:recordings. The colons keep it apart from every
    service's groups (a service's name is a DNS label), in a plain file and in a team's ruler namespace."""
    return f"journey:{journey}:{part}"


def journey_error_ratio(window: str) -> str:
    """A journey's share of failed requests over `window`, e.g. journey:sli_error:ratio_rate5m."""
    return f"journey:sli_error:ratio_rate{window}"


def journey_rules_path(journey: str) -> str:
    return f"{JOURNEYS_DIR}/{journey}.rules.yml"


def journey_rules_test_path(journey: str) -> str:
    return f"{JOURNEYS_DIR}/{journey}.rules.test.yml"


def journey_openslo_path(journey: str) -> str:
    return f"{JOURNEYS_DIR}/{journey}.openslo.yaml"


def journey_runbook_path(journey: str) -> str:
    """Beside the services' runbook folders, where runbook_base_url leads; no service's alert page
    can be there (alert names are CamelCase, journey names lower case)."""
    return f"{RUNBOOKS_DIR}/{JOURNEYS_DIR}/{journey}.md"


def journey_dashboard_path() -> str:
    return f"{JOURNEYS_DIR}/dashboard.json"


def journey_runbook_url(base_url: str | None, journey: str) -> str:
    """The journey's runbook page: `base_url` is where the fleet folder's runbooks/ is browsable
    (opgen-settings.yaml); without it, the page's path from the folder that holds the fleet folder."""
    path = journey_runbook_path(journey)
    if base_url:
        return f"{base_url.rstrip('/')}/{path.removeprefix(RUNBOOKS_DIR + '/')}"
    return f"{OPS_DIR}/{path}"
