"""ops/terraform/<name>_autoscaling.tf: given a descriptor, the autoscaler of its platform, sized by
opgen.capacity, as HCL that parses and uses only what the providers (and KEDA's scalers) document;
none for cron jobs."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import hcl2
import pytest
from hcl2 import SerializationOptions

from conftest import EXAMPLES, TEST_DESCRIPTORS, require, run_opgen, service_folder
from opgen.capacity import DEFAULT_BACKLOG_PER_REPLICA, DEFAULT_DRAIN_SECONDS, plan_backlog, plan_capacity
from opgen.descriptor.load import load_service, load_service_text
from opgen.render import RenderContext
from opgen.render import terraform_autoscaling

DESCRIPTORS = [EXAMPLES / "checkout" / "service.yaml", *sorted(TEST_DESCRIPTORS.glob("*.yaml"))]
EXPECTED_RESOURCES = {
    "kubernetes": ["kubernetes_horizontal_pod_autoscaler_v2"],
    "kubernetes-gpu": ["kubernetes_manifest"],
    "kubernetes-queue": ["kubernetes_manifest"],  # a KEDA ScaledObject on the broker's backlog
    "cron": [],  # no file at all
    "ecs": ["aws_appautoscaling_target", "aws_appautoscaling_policy", "aws_appautoscaling_policy"],  # CPU and ALB requests
    "ecs-cpu-only": ["aws_appautoscaling_target", "aws_appautoscaling_policy"],  # no traffic figures
    "lambda": ["aws_appautoscaling_target", "aws_appautoscaling_policy"],
}
EXPECTED_PROVIDERS = {"kubernetes": "hashicorp/kubernetes", "kubernetes-gpu": "hashicorp/kubernetes",
                      "kubernetes-queue": "hashicorp/kubernetes",
                      "ecs": "hashicorp/aws", "ecs-cpu-only": "hashicorp/aws", "lambda": "hashicorp/aws"}


# --- the documented schema -----------------------------------------------------------------------
# Transcribed from the providers' registry docs: hashicorp/kubernetes docs/resources/
# horizontal_pod_autoscaler_v2.md and manifest.md, hashicorp/aws website/docs/r/appautoscaling_target
# and appautoscaling_policy (v5/v6: suspended_state, predictive_scaling_policy_configuration, region);
# the manifest's content from KEDA's ScaledObject specification and its scalers (kedacore/keda-docs,
# content/docs/2.21: reference/scaledobject-spec.md, scalers/prometheus.md, apache-kafka.md,
# rabbitmq-queue.md, aws-sqs.md, cpu.md); variable and terraform blocks from the Terraform language
# docs. Only blocks opgen emits are described deeper.


def block(required: str = "", optional: str = "", **nested: dict) -> dict:
    return {"required": set(required.split()), "optional": set(optional.split()), "nested": nested}


META_ARGUMENTS = {"count", "for_each", "depends_on", "provider", "lifecycle"}
_POLICY = block("period_seconds type value")
_SCALING_RULES = block("policy", "select_policy stabilization_window_seconds", policy=_POLICY)
_TARGET = block("type", "average_value average_utilization value")
_KEDA_SCALING_RULES = block("policies", "selectPolicy stabilizationWindowSeconds",
                            policies=block("type value periodSeconds"))

SCHEMA = {
    "kubernetes_horizontal_pod_autoscaler_v2": block(
        "metadata spec",
        metadata=block("", "annotations generate_name labels name namespace"),
        spec=block(
            "max_replicas scale_target_ref", "min_replicas metric behavior target_cpu_utilization_percentage",
            scale_target_ref=block("kind name", "api_version"),
            metric=block(
                "type", "object pods resource external container_resource",
                pods=block("metric target", metric=block("name", "selector"), target=_TARGET),
                resource=block("name target", target=_TARGET),
            ),
            behavior=block("", "scale_up scale_down", scale_up=_SCALING_RULES, scale_down=_SCALING_RULES),
        ),
    ),
    "kubernetes_manifest": block(
        "manifest", "computed_fields field_manager object timeouts wait wait_for",
        manifest=block(
            "apiVersion kind metadata spec",
            metadata=block("name", "namespace labels annotations"),
            spec=block(
                "scaleTargetRef triggers",
                "pollingInterval cooldownPeriod initialCooldownPeriod idleReplicaCount minReplicaCount "
                "maxReplicaCount fallback advanced",
                scaleTargetRef=block("name", "apiVersion kind envSourceContainerName"),
                advanced=block(
                    "", "restoreToOriginalReplicaCount horizontalPodAutoscalerConfig scalingModifiers",
                    horizontalPodAutoscalerConfig=block(
                        "", "name behavior",
                        behavior=block("", "scaleUp scaleDown", scaleUp=_KEDA_SCALING_RULES, scaleDown=_KEDA_SCALING_RULES),
                    ),
                ),
                triggers=block(
                    "type metadata", "name metricType useCachedMetrics authenticationRef",
                    authenticationRef=block("name", "kind"),
                ),  # metadata: per scaler, KEDA_METADATA
            ),
        ),
    ),
    "aws_appautoscaling_target": block(
        "max_capacity min_capacity resource_id scalable_dimension service_namespace",
        "role_arn suspended_state tags region",
    ),
    "aws_appautoscaling_policy": block(
        "name resource_id scalable_dimension service_namespace",
        "policy_type step_scaling_policy_configuration target_tracking_scaling_policy_configuration "
        "predictive_scaling_policy_configuration region",
        target_tracking_scaling_policy_configuration=block(
            "target_value",
            "disable_scale_in scale_in_cooldown scale_out_cooldown customized_metric_specification "
            "predefined_metric_specification",
            predefined_metric_specification=block("predefined_metric_type", "resource_label"),
        ),
    ),
}
# Each KEDA scaler's metadata, and the metric types it supports.
KEDA_METADATA = {
    "prometheus": block("serverAddress query threshold",
                        "activationThreshold namespace customHeaders ignoreNullValues unsafeSsl queryParameters"),
    "kafka": block("bootstrapServers consumerGroup",
                   "topic lagThreshold activationLagThreshold offsetResetPolicy allowIdleConsumers "
                   "scaleToZeroOnInvalidOffset excludePersistentLag limitToPartitionsWithLag "
                   "ensureEvenDistributionOfPartitions version fullMetadata partitionLimitation sasl "
                   "saslTokenProvider tls unsafeSsl awsRegion"),
    "rabbitmq": block("queueName mode value",
                      "host hostFromEnv usernameFromEnv passwordFromEnv protocol activationValue vhostName "
                      "useRegex pageSize operation timeout excludeUnacknowledged unsafeSsl"),
    "aws-sqs-queue": block("awsRegion",
                           "queueURL queueURLFromEnv queueLength activationQueueLength scaleOnInFlight "
                           "scaleOnDelayed awsEndpoint identityOwner"),
    "cpu": block("value", "containerName"),
}
KEDA_METRIC_TYPES = {"cpu": {"Utilization", "AverageValue"}}  # every other scaler: AverageValue or Value
VARIABLE = block("", "type description default validation sensitive nullable ephemeral",
                 validation=block("condition error_message"))
TERRAFORM = block("", "required_version required_providers backend cloud experiments provider_meta")


def schema_problems(body: dict, schema: dict, where: str, extra: set[str] = frozenset()) -> list[str]:
    problems = []
    for key, value in body.items():
        if key.startswith("__"):
            continue
        if key not in schema["required"] | schema["optional"] | extra:
            problems.append(f"{where}.{key} is not documented")
        elif key in schema["nested"]:
            for item in value if isinstance(value, list) else [value]:
                problems += schema_problems(item, schema["nested"][key], f"{where}.{key}")
    problems += [f"{where}.{key} is required but missing" for key in sorted(schema["required"] - body.keys())]
    return problems


# --- helpers --------------------------------------------------------------------------------------


def parse(text: str) -> dict:
    return hcl2.loads(text, serialization_options=SerializationOptions(strip_string_quotes=True, with_comments=False))


def hcl_value(text: str) -> str:
    """A parsed HCL string as Terraform sees it: python-hcl2 leaves the template escapes $${ and %%{."""
    return text.replace("$${", "${").replace("%%{", "%{")


def resources(doc: dict) -> list[tuple[str, str, dict]]:
    return [(kind, name, body) for entry in doc.get("resource", []) for kind, named in entry.items()
            for name, body in named.items()]


def variables(doc: dict) -> dict[str, dict]:
    return {name: body for entry in doc.get("variable", []) for name, body in entry.items()}


def keda_problems(resource: dict) -> list[str]:
    """What KEDA's scaler documentation does not know in the ScaledObject's triggers."""
    problems = []
    for index, trigger in enumerate(resource["manifest"]["spec"]["triggers"]):
        where = f"trigger {index} ({trigger['type']})"
        if trigger["type"] not in KEDA_METADATA:
            problems.append(f"{where}: no such scaler")
            continue
        problems += schema_problems(trigger["metadata"], KEDA_METADATA[trigger["type"]], f"{where}.metadata")
        if trigger["metricType"] not in KEDA_METRIC_TYPES.get(trigger["type"], {"AverageValue", "Value"}):
            problems.append(f"{where}: metricType {trigger['metricType']}")
        problems += [f"{where}.metadata.{k} is not a string" for k, v in trigger["metadata"].items()
                     if not k.startswith("__") and not isinstance(v, str)]
    return problems


def triggers_of(doc: dict) -> list[dict]:
    [(_, _, body)] = resources(doc)
    return body["manifest"]["spec"]["triggers"]


def kind_of(descriptor: Path) -> str:
    """Which resources the descriptor's platform (and GPU, broker, interfaces and traffic figures) call for."""
    service = load_service(descriptor)
    if service.is_cron_job:
        return "cron"
    if service.platform == "kubernetes":
        if service.gpu:
            return "kubernetes-gpu"
        consumes = any(i.kind == "queue-consumer" for i in service.interfaces)
        return "kubernetes-queue" if consumes and any(d.kind in ("kafka", "rabbitmq", "sqs") for d in service.dependencies) else "kubernetes"
    if service.platform == "ecs" and service.traffic.per_instance_rps is None:
        return "ecs-cpu-only"
    return service.platform


def synced_terraform(tmp_path: Path, descriptor: Path) -> list[Path]:
    folder = service_folder(tmp_path, descriptor)
    result = run_opgen("sync", folder.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return sorted((folder / "ops" / "terraform").glob("*.tf"))


def render(service) -> str:
    [artifact] = terraform_autoscaling.render(RenderContext(service, "service.yaml"))
    return artifact.text


def descriptor(tier: int = 2, platform: str = "kubernetes", traffic: str = "", scaling: str = "",
               interfaces: str = "[{kind: http}]", slos: str = "", dependencies: str = "", gpu: str = "",
               blueprint: str = "", cost: str = "") -> str:
    return "\n".join(line for line in (
        "apiVersion: opgen/v1",
        "kind: Service",
        f"metadata: {{name: shop, team: core, tier: {tier}}}",
        "spec:",
        f"  blueprint: {blueprint}" if blueprint else "",
        f"  cost: {{{cost}}}" if cost else "",
        f"  runtime: {{platform: {platform}}}",
        f"  interfaces: {interfaces}",
        f"  traffic: {{{traffic}}}" if traffic else "",
        f"  scaling: {{{scaling}}}" if scaling else "",
        f"  slos: {slos}" if slos else "",
        f"  dependencies: {dependencies}" if dependencies else "",
        f"  resources: {{gpu: {{{gpu}}}}}" if gpu else "",
    ) if line) + "\n"


def service_of(text: str):
    return load_service_text(text, "service.yaml")


TRAFFIC = "baseline_rps: 150, peak_rps: 1500, per_instance_rps: 60"
# --- what sync writes, per platform ---------------------------------------------------------------


@pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=lambda p: p.parent.name if p.stem == "service" else p.stem)
def test_sync_writes_parseable_terraform_using_only_documented_attributes(tmp_path, descriptor):
    service = load_service(descriptor)
    files = synced_terraform(tmp_path, descriptor)
    kind = kind_of(descriptor)
    if kind == "cron":  # nothing to scale, so no file, not even an empty one
        assert files == []
        return
    assert [f.name for f in files] == [f"{service.name}_autoscaling.tf"]
    text = files[0].read_text()
    doc = parse(text)

    assert sorted(k for k, _, _ in resources(doc)) == sorted(EXPECTED_RESOURCES[kind])
    problems = []
    for resource_type, name, body in resources(doc):
        problems += schema_problems(body, SCHEMA[resource_type], f"{resource_type}.{name}", META_ARGUMENTS)
        if resource_type == "kubernetes_manifest":
            problems += keda_problems(body)
    for name, body in variables(doc).items():
        problems += schema_problems(body, VARIABLE, f"variable.{name}")
    for body in doc["terraform"]:
        problems += schema_problems(body, TERRAFORM, "terraform")
    assert problems == []

    [providers] = doc["terraform"][0]["required_providers"]
    assert {p["source"] for name, p in providers.items() if not name.startswith("__")} == {EXPECTED_PROVIDERS[kind]}
    assert all(re.fullmatch(r">= \d+\.\d+, < \d+\.\d+", p["version"]) for n, p in providers.items() if not n.startswith("__"))

    used = {m for line in text.splitlines() if not line.lstrip().startswith("#") for m in re.findall(r"\bvar\.([a-z0-9_]+)", line)}
    assert used == set(variables(doc)), "every variable declared is used, every one used is declared"


@pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=lambda p: p.parent.name if p.stem == "service" else p.stem)
def test_figures_and_arithmetic_are_written_as_comments(descriptor):
    service = load_service(descriptor)
    if service.is_cron_job:
        return  # no file (test_cron_jobs_get_no_terraform_file)
    capacity = plan_capacity(service)
    text = render(service)
    for line in capacity.arithmetic:
        assert f"#   {line}\n" in text
    assert f"# Capacity: {capacity.min_replicas} to {capacity.max_replicas} " in text


def test_kubernetes_hpa_targets_the_deployment_on_cpu_and_requests_with_fast_up_slow_down():
    service = load_service(EXAMPLES / "checkout" / "service.yaml")
    text = render(service)
    [(_, name, hpa)] = resources(parse(text))
    assert name == "checkout"
    [meta], [spec] = hpa["metadata"], hpa["spec"]
    assert (meta["name"], meta["namespace"]) == ("checkout", "shop")
    assert spec["scale_target_ref"][0] | {"__is_block__": True} == {
        "api_version": "apps/v1", "kind": "Deployment", "name": "checkout", "__is_block__": True}
    assert (spec["min_replicas"], spec["max_replicas"]) == (8, 60)  # the descriptor's scaling block wins
    cpu, requests = spec["metric"]
    assert cpu["resource"][0]["name"] == "cpu"
    assert cpu["resource"][0]["target"][0]["average_utilization"] == 60
    assert requests["type"] == "Pods"
    assert requests["pods"][0]["metric"][0]["name"] == "http_server_request_per_second"
    assert requests["pods"][0]["target"][0]["average_value"] == "36"  # 60 rps x 60 % target
    assert 'as: "${1}_per_second"' in text  # the prometheus-adapter rule that serves that metric
    [behavior] = spec["behavior"]
    up, down = behavior["scale_up"][0], behavior["scale_down"][0]
    assert up["stabilization_window_seconds"] == 0 and down["stabilization_window_seconds"] >= 300
    assert max(p["value"] for p in up["policy"] if p["type"] == "Percent") >= 100
    assert all(p["value"] <= 10 and p["type"] == "Percent" for p in down["policy"])


@pytest.mark.parametrize(("text", "reason"), [
    (descriptor(), "the descriptor declares no traffic.per_instance_rps"),
    (descriptor(traffic="baseline_rps: 1", interfaces="[{kind: http}, {kind: cron}]"),
     "the descriptor declares no traffic.per_instance_rps"),
])
def test_kubernetes_without_a_request_rate_scales_on_cpu_only_and_says_why(text, reason):
    hcl = render(load_service_text(text, "service.yaml"))
    [(_, _, hpa)] = resources(parse(hcl))
    assert [m["type"] for m in hpa["spec"][0]["metric"]] == ["Resource"]
    assert f"# It scales on CPU only: {reason}." in hcl


def test_gpu_service_scales_with_keda_on_gpu_utilisation_never_cpu_alone():
    text = render(load_service(TEST_DESCRIPTORS / "gpu-inference.yaml"))
    doc = parse(text)
    [(kind, _, body)] = resources(doc)
    assert kind == "kubernetes_manifest"
    manifest = body["manifest"]
    assert (manifest["apiVersion"], manifest["kind"]) == ("keda.sh/v1alpha1", "ScaledObject")
    spec = manifest["spec"]
    assert spec["scaleTargetRef"]["name"] == "ranker" and manifest["metadata"]["namespace"] == "ml"
    # 25 rps x 70 % = 17.5 per pod; 40 rps -> 3, one zone lost -> 5, and a warm spare -> 6. 400 rps -> 23, +20 % -> 28.
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (6, 28)
    assert [t["type"] for t in spec["triggers"]] == ["prometheus", "prometheus"]
    gpu, requests = (t["metadata"] for t in spec["triggers"])
    assert "DCGM_FI_DEV_GPU_UTIL" in gpu["query"] and gpu["threshold"] == "70"
    assert "http_server_request_duration_seconds_count" in requests["query"] and requests["threshold"] == "17.5"
    assert all(t["metadata"]["serverAddress"] == "${var.prometheus_server_address}" for t in spec["triggers"])
    assert "prometheus_server_address" in variables(doc)
    assert "cpu" not in str(spec["triggers"]).lower()
    hpa = spec["advanced"]["horizontalPodAutoscalerConfig"]
    assert hpa["name"] == "ranker"  # what kubectl, the ReplicasAtMaximum alert and the runbooks look for
    down, up = hpa["behavior"]["scaleDown"], hpa["behavior"]["scaleUp"]
    # A GPU pod takes minutes to come back: give pods up after 15 minutes, one at a time; scale up as fast as ever.
    assert down["stabilizationWindowSeconds"] >= 900
    assert [(p["type"], p["value"]) for p in down["policies"]] == [("Pods", 1)] and down["policies"][0]["periodSeconds"] >= 300
    assert up["stabilizationWindowSeconds"] == 0
    assert "GPU warm spare: 5 + 1 = 6 pods" in text


# --- queue consumers: the broker's backlog, through its own KEDA scaler ----------------------------

FRESHNESS_90S = "[{name: fresh, objective: 99, sli: {kind: freshness, threshold: 90s}}]"
CONSUMER_TRAFFIC = "baseline_rps: 40, peak_rps: 400, per_instance_rps: 25"  # 17.5 messages/s per pod at 70 %


def queue_consumer(broker: str, traffic: str = CONSUMER_TRAFFIC, slos: str = FRESHNESS_90S, auth: bool = True, **more) -> str:
    more.setdefault("interfaces", "[{kind: queue-consumer}]")
    dependency = f"{{name: jobs, kind: {broker}, critical: true{', auth: true' if auth else ''}}}"
    return descriptor(traffic=traffic, slos=slos, dependencies=f"[{dependency}]", **more)


# Each scaler, the metadata field of its per-pod backlog target, and the variables opgen cannot fill in.
SCALERS = {
    "kafka": ("kafka", "lagThreshold", {"bootstrapServers": "jobs_bootstrap_servers", "topic": "jobs_topic",
                                         "consumerGroup": "jobs_consumer_group"}),
    "rabbitmq": ("rabbitmq", "value", {"queueName": "jobs_queue"}),
    "sqs": ("aws-sqs-queue", "queueLength", {"queueURL": "jobs_queue_url", "awsRegion": "jobs_aws_region"}),
}


@pytest.mark.parametrize("broker", SCALERS)
def test_a_queue_consumer_scales_on_the_backlog_one_pod_drains_within_the_freshness_threshold(broker):
    text = render(service_of(queue_consumer(broker)))
    doc = parse(text)
    scaler, target_field, from_variables = SCALERS[broker]
    [(kind, _, body)] = resources(doc)
    assert kind == "kubernetes_manifest" and keda_problems(body) == []
    [trigger] = triggers_of(doc)  # the backlog alone: no CPU, no request rate
    assert (trigger["type"], trigger["metricType"]) == (scaler, "AverageValue")
    assert trigger["metadata"][target_field] == "1575"  # 25 x 70 % = 17.5 messages/s x 90 s
    if broker == "rabbitmq":
        assert trigger["metadata"]["mode"] == "QueueLength"
    for field, variable in from_variables.items():
        assert trigger["metadata"][field] == f"${{var.{variable}}}"
    assert trigger["authenticationRef"] == {"name": "${var.jobs_trigger_authentication}"}
    assert set(variables(doc)) == {*from_variables.values(), "jobs_trigger_authentication"}
    assert all("default" not in v for v in variables(doc).values())  # the descriptor cannot know them
    spec = body["manifest"]["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (5, 28)
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["name"] == "shop"
    assert "#   Backlog per pod: 17.5 messages/s x 90 s = 1575 messages; at full speed a pod drains them in 63 s.\n" in text


# Without auth: what each scaler reads instead of a TriggerAuthentication.
WITHOUT_AUTH = {"kafka": ({}, set()), "rabbitmq": ({"host": "${var.jobs_host}"}, {"jobs_host"}),
                "sqs": ({"identityOwner": "operator"}, set())}


@pytest.mark.parametrize("broker", SCALERS)
def test_a_broker_without_auth_gets_no_trigger_authentication(broker):
    doc = parse(render(service_of(queue_consumer(broker, auth=False))))
    [(_, _, body)] = resources(doc)
    assert keda_problems(body) == []
    [trigger] = triggers_of(doc)
    assert "authenticationRef" not in trigger
    extra_metadata, extra_variables = WITHOUT_AUTH[broker]
    assert extra_metadata.items() <= trigger["metadata"].items()
    assert set(variables(doc)) == {*SCALERS[broker][2].values(), *extra_variables}


@pytest.mark.parametrize(("text", "target", "line"), [
    # No freshness SLO: 60 s of work per pod. 17.5 x 60 = 1050.
    (queue_consumer("kafka", slos=""), 1050, f"Drain time: {DEFAULT_DRAIN_SECONDS} s (default; the descriptor has no freshness SLO)."),
    # No per_instance_rps: nothing to size it by.
    (queue_consumer("kafka", traffic="baseline_rps: 40"), DEFAULT_BACKLOG_PER_REPLICA,
     f"Without traffic.per_instance_rps: {DEFAULT_BACKLOG_PER_REPLICA} messages per pod (default; set traffic.per_instance_rps from a load test)."),
    # 17.5 x 0.5 s = 8.75, rounded down to 8, so the threshold still holds.
    (queue_consumer("kafka", slos="[{name: fresh, objective: 99, sli: {kind: freshness, threshold: 500ms}}]"), 8,
     "Backlog per pod: 17.5 messages/s x 0.5 s = 8.75, rounded down: 8 messages; at full speed a pod drains them in 0.32 s."),
])
def test_the_backlog_target_has_documented_defaults_and_shows_its_arithmetic(text, target, line):
    service = service_of(text)
    backlog = plan_backlog(service, plan_capacity(service))
    assert backlog.per_replica == target and line in backlog.arithmetic
    hcl = render(service)
    assert triggers_of(parse(hcl))[0]["metadata"]["lagThreshold"] == str(target)
    assert f"#   {line}\n" in hcl


def test_a_consumer_that_also_serves_requests_keeps_cpu_and_request_triggers():
    doc = parse(render(service_of(queue_consumer("sqs", interfaces="[{kind: http}, {kind: queue-consumer}]"))))
    [(_, _, body)] = resources(doc)
    assert keda_problems(body) == []
    queue, cpu, requests = triggers_of(doc)
    assert queue["type"] == "aws-sqs-queue"
    assert (cpu["type"], cpu["metricType"], cpu["metadata"]["value"]) == ("cpu", "Utilization", "70")
    assert requests["type"] == "prometheus" and "http_server_request_duration_seconds_count" in requests["metadata"]["query"]
    assert requests["metadata"]["threshold"] == "17.5"
    assert "prometheus_server_address" in variables(doc)


def test_a_gpu_queue_consumer_scales_on_its_backlog_not_its_gpus():
    doc = parse(render(service_of(queue_consumer("rabbitmq", gpu="count: 1"))))
    [trigger] = triggers_of(doc)
    assert trigger["type"] == "rabbitmq" and trigger["metadata"]["value"] == "1575"
    assert "prometheus_server_address" not in variables(doc)
    spec = resources(doc)[0][2]["manifest"]["spec"]
    assert spec["minReplicaCount"] == 6  # the warm spare of a GPU service
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 900


@pytest.mark.parametrize("text", [
    descriptor(interfaces="[{kind: queue-consumer}]", dependencies="[{name: db, kind: postgres}]"),  # no broker
    queue_consumer("kafka", interfaces="[{kind: http}]", slos=""),  # a producer, not a consumer
    queue_consumer("sqs", platform="ecs"),  # KEDA is Kubernetes only
])
def test_no_backlog_scaling_without_a_consumer_a_broker_and_kubernetes(text):
    doc = parse(render(service_of(text)))
    assert all(kind != "kubernetes_manifest" for kind, _, _ in resources(doc))


@pytest.mark.parametrize("descriptor_path", [TEST_DESCRIPTORS / "cron-report.yaml", TEST_DESCRIPTORS / "events.yaml"],
                         ids=lambda p: p.stem)
def test_cron_jobs_get_no_terraform_file(descriptor_path):
    service = load_service(descriptor_path)
    assert service.is_cron_job
    assert terraform_autoscaling.render(RenderContext(service, "service.yaml")) == []


def test_ecs_tracks_cpu_and_alb_requests_per_target_with_cooldowns():
    doc = parse(render(load_service(TEST_DESCRIPTORS / "ecs-all-deps.yaml")))
    found = {name: body for _, name, body in resources(doc)}
    target = found["orders"]
    assert target["resource_id"] == "service/${var.ecs_cluster_name}/${var.ecs_service_name}"
    assert (target["scalable_dimension"], target["service_namespace"]) == ("ecs:service:DesiredCount", "ecs")
    assert (target["min_capacity"], target["max_capacity"]) == (2, 30)
    configs = {name: found[name]["target_tracking_scaling_policy_configuration"][0] for name in ("orders_cpu", "orders_requests")}
    cpu, alb = configs["orders_cpu"], configs["orders_requests"]
    assert cpu["predefined_metric_specification"][0]["predefined_metric_type"] == "ECSServiceAverageCPUUtilization"
    assert cpu["target_value"] == 65
    assert alb["predefined_metric_specification"][0] == {
        "predefined_metric_type": "ALBRequestCountPerTarget", "resource_label": "${var.alb_resource_label}", "__is_block__": True}
    assert alb["target_value"] == 1950  # 50 rps x 65 % target = 32.5 per task, x 60 s: the metric counts per minute
    assert all(c["scale_out_cooldown"] < c["scale_in_cooldown"] for c in configs.values())
    assert variables(doc)["ecs_cluster_name"]["default"] == "shop-cluster"


def test_lambda_tracks_provisioned_concurrency_of_the_alias():
    doc = parse(render(load_service(TEST_DESCRIPTORS / "lambda.yaml")))
    found = {name: body for _, name, body in resources(doc)}
    target = found["thumbnailer"]
    assert target["resource_id"] == "function:${var.lambda_function_name}:${var.lambda_alias}"
    assert target["scalable_dimension"] == "lambda:function:ProvisionedConcurrency"
    assert (target["min_capacity"], target["max_capacity"]) == (1, 22)
    [config] = found["thumbnailer_provisioned_concurrency"]["target_tracking_scaling_policy_configuration"]
    assert config["predefined_metric_specification"][0]["predefined_metric_type"] == "LambdaProvisionedConcurrencyUtilization"
    assert config["target_value"] == 0.7
    assert "default" not in variables(doc)["lambda_alias"]  # the descriptor cannot know it


# --- capacity -------------------------------------------------------------------------------------


CAPACITY_CASES = {
    # name: (descriptor, min, max)
    # A pod serves 60 rps x 70 % = 42 rps. 150/42 -> 4 pods; one zone of 3 lost: 4 + 2 = 6.
    # 1500/42 = 35.7 -> 36, +20 % = 43.2 -> 44.
    "traffic only": (descriptor(traffic=TRAFFIC), 6, 44),
    "explicit scaling wins": (descriptor(traffic=TRAFFIC, scaling="min_replicas: 4, max_replicas: 50"), 4, 50),
    "one explicit value, the other computed": (descriptor(traffic=TRAFFIC, scaling="max_replicas: 60"), 6, 60),
    # 10/42 -> 1, +1 for the zone -> 2, below tier 1's 3; 100/42 -> 3, +20 % -> 3.6 -> 4.
    "tier 1 minimum": (descriptor(tier=1, traffic="baseline_rps: 10, peak_rps: 100, per_instance_rps: 60"), 3, 4),
    "tier 2 minimum": (descriptor(tier=2, traffic="baseline_rps: 1, peak_rps: 2, per_instance_rps: 60"), 2, 2),
    "missing traffic, tier 2": (descriptor(), 2, 10),
    "missing traffic, tier 4": (descriptor(tier=4), 1, 10),
    "missing traffic, scaling given": (descriptor(scaling="min_replicas: 6"), 6, 12),
    "missing per_instance_rps": (descriptor(tier=3, traffic="baseline_rps: 150, peak_rps: 1500"), 1, 10),
    "explicit maximum below the computed minimum": (descriptor(tier=1, traffic=TRAFFIC, scaling="max_replicas: 2"), 2, 2),
    # Exact at a 100 % target: 1.1 / 0.1 is 11 (floats say 11.000000000000002 and would round up to 12);
    # 11 x 1.2 = 13.2 -> 14. 0.3 / 0.1 = 3 (floats: 2.9999999999999996), + 2 for the zone = 5.
    "decimal figures are exact": (descriptor(tier=3, traffic="baseline_rps: 0.3, peak_rps: 1.1, per_instance_rps: 0.1",
                                             scaling="target_cpu_utilization: 100"), 5, 14),
    # Lambda spreads over zones itself: a replica serves 10 x 70 % = 7; 5/7 -> 1, no zone rule;
    # 120/7 = 17.1 -> 18, +20 % = 21.6 -> 22.
    "lambda has no zone rule": (descriptor(tier=3, platform="lambda", traffic="baseline_rps: 5, peak_rps: 120, per_instance_rps: 10"), 1, 22),
    # GPU: 4 + 2 for the zone = 6, and a warm spare: 7. The maximum is unchanged: 44.
    "a GPU keeps a warm spare": (descriptor(traffic=TRAFFIC, gpu="count: 1"), 7, 44),
    # Without traffic figures: one pod and a spare, at least the tier floor.
    "a GPU without traffic figures: one pod and a spare": (descriptor(tier=3, gpu="count: 2"), 2, 10),
    "a GPU without traffic figures: the tier 1 floor": (descriptor(tier=1, gpu="count: 1"), 3, 10),
    "explicit minimum wins over the spare": (descriptor(traffic=TRAFFIC, gpu="count: 1", scaling="min_replicas: 3"), 3, 44),
}


@pytest.mark.parametrize("case", CAPACITY_CASES)
def test_capacity(case):
    text, expected_min, expected_max = CAPACITY_CASES[case]
    capacity = plan_capacity(load_service_text(text, "service.yaml"))
    assert (capacity.min_replicas, capacity.max_replicas) == (expected_min, expected_max)


def test_capacity_explains_its_arithmetic():
    capacity = plan_capacity(load_service_text(descriptor(traffic=TRAFFIC, scaling="max_replicas: 50"), "service.yaml"))
    assert capacity.arithmetic == (
        "Target utilisation: 70% (opgen's default; neither the descriptor nor its blueprint sets scaling.target_cpu_utilization).",
        "Per pod at 70%: 60 rps x 70% = 42 rps.",
        "Baseline: 150 rps / 42 rps per pod = 3.57143, rounded up: 4 pods.",
        "One of 3 zones lost: 4 + ceil(4 / 2) = 6 pods, so the other 2 zones still carry the baseline.",
        "Tier 2 floor: at least 2; minimum: 6 pods.",
        "Peak: 1500 rps / 42 rps per pod = 35.7143, rounded up: 36 pods.",
        "Headroom 20%: 36 x 1.2 = 43.2, rounded up: 44; maximum: 44 pods.",
        "scaling.max_replicas in the descriptor wins: 50 pods (the figures above give 44).",
    )
    assert capacity.per_replica_rps == Fraction(42) and capacity.target_utilization_percent == 70


def test_capacity_says_when_figures_are_missing():
    capacity = plan_capacity(load_service_text(descriptor(tier=3, traffic="peak_rps: 900"), "service.yaml"))
    assert capacity.arithmetic[1:] == (
        "Without traffic.baseline_rps and traffic.per_instance_rps: the minimum is the tier 3 floor, 1 pod.",
        "Without traffic.per_instance_rps: the maximum is max(10, 2 x minimum 1) = 10 pods.",
    )
    assert capacity.per_replica_rps is None


# --- precedence: the descriptor, then the declared traffic, then the blueprint ------------------------

BLUEPRINT_CASES = {
    # name: (descriptor, min, max, where the minimum and the maximum come from, as the arithmetic says)
    # http-api: 60 % target, min 2, max 10. A pod serves 25 x 60 % = 15 rps: 50/15 -> 4, + 2 for the zone = 6;
    # 500/15 -> 34, + 20 % -> 41.
    "declared traffic wins over the blueprint's bounds": (
        descriptor(tier=1, blueprint="http-api", traffic="baseline_rps: 50, peak_rps: 500, per_instance_rps: 25"), 6, 41,
        ("The declared traffic wins over the http-api blueprint's scaling.min_replicas of 2, a default for services that declare none.",
         "The declared peak wins over the http-api blueprint's scaling.max_replicas of 10, a default for services that declare no traffic.")),
    "the descriptor's own bounds win over the traffic": (
        descriptor(tier=1, blueprint="http-api", traffic="baseline_rps: 50, peak_rps: 500, per_instance_rps: 25",
                   scaling="min_replicas: 8, max_replicas: 45"), 8, 45,
        ("scaling.min_replicas in the descriptor wins: 8 pods (the figures above give 6).",
         "scaling.max_replicas in the descriptor wins: 45 pods (the figures above give 41).")),
    "without traffic, the blueprint's bounds": (
        descriptor(tier=2, blueprint="http-api"), 2, 10,
        ("Without traffic.baseline_rps and traffic.per_instance_rps: the minimum is the http-api blueprint's scaling.min_replicas, 2 pods.",
         "Without traffic.peak_rps and traffic.per_instance_rps: the maximum is the http-api blueprint's scaling.max_replicas, 10 pods.")),
    "the blueprint's minimum is raised to the tier floor": (
        descriptor(tier=1, blueprint="http-api"), 3, 10,
        ("Without traffic.baseline_rps and traffic.per_instance_rps: the http-api blueprint's scaling.min_replicas of 2 is raised to "
         "the tier 1 floor, 3 pods.",
         "Without traffic.peak_rps and traffic.per_instance_rps: the maximum is the http-api blueprint's scaling.max_replicas, 10 pods.")),
    # queue-worker: min 1, max 20, 70 %. 400/(10 x 70 %) = 57.1 -> 58, + 29 for the zone = 87, above the blueprint's 20.
    "a blueprint's maximum below the traffic's minimum is not used": (
        descriptor(tier=3, blueprint="queue-worker", interfaces="[{kind: queue-consumer}]",
                   traffic="baseline_rps: 400, per_instance_rps: 10"), 87, 174,
        ("The declared traffic wins over the queue-worker blueprint's scaling.min_replicas of 1, a default for services that declare none.",
         "Without traffic.peak_rps: the maximum is max(10, 2 x minimum 87) = 174 pods (the queue-worker blueprint's "
         "scaling.max_replicas of 20 is below the minimum).")),
}


@pytest.mark.parametrize("case", BLUEPRINT_CASES)
def test_the_descriptor_then_the_traffic_then_the_blueprint(case):
    text, expected_min, expected_max, lines = BLUEPRINT_CASES[case]
    capacity = plan_capacity(load_service_text(text, "service.yaml"))
    assert (capacity.min_replicas, capacity.max_replicas) == (expected_min, expected_max)
    assert all(line in capacity.arithmetic for line in lines), capacity.arithmetic


def test_the_target_utilisation_says_whose_it_is():
    lines = [plan_capacity(load_service_text(text, "service.yaml")).arithmetic[0] for text in (
        descriptor(blueprint="http-api"), descriptor(blueprint="http-api", scaling="target_cpu_utilization: 50"), descriptor())]
    assert lines == ["Target utilisation: 60% (the http-api blueprint's scaling.target_cpu_utilization).",
                     "Target utilisation: 50% (scaling.target_cpu_utilization in the descriptor).",
                     "Target utilisation: 70% (opgen's default; neither the descriptor nor its blueprint sets "
                     "scaling.target_cpu_utilization)."]


def test_new_service_with_traffic_gets_the_traffics_replicas_not_the_blueprints(tmp_path):
    result = run_opgen("new-service", "demo", "--no-input", "--tier", "1", "--baseline-rps", "50", "--peak-rps", "500",
                       "--per-instance-rps", "25", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "demo" / "ops" / "terraform" / "demo_autoscaling.tf").read_text()
    [(_, _, hpa)] = resources(parse(text))
    assert (hpa["spec"][0]["min_replicas"], hpa["spec"][0]["max_replicas"]) == (6, 41)
    assert "# Capacity: 6 to 41 pods." in text and "in the descriptor wins" not in text
    assert "max_replicas" not in result.stderr  # the blueprint's 10 is not the descriptor's choice: nothing to warn about


# --- the validation warning -------------------------------------------------------------------------


def test_max_replicas_below_the_declared_peak_is_a_warning_with_the_figures(tmp_path):
    (tmp_path / "service.yaml").write_text(descriptor(traffic=TRAFFIC, scaling="min_replicas: 6, max_replicas: 20"))
    result = run_opgen("validate", "service.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = next(i for i, text in enumerate((tmp_path / "service.yaml").read_text().splitlines(), 1) if "scaling:" in text)
    col = (tmp_path / "service.yaml").read_text().splitlines()[line - 1].index("max_replicas: 20") + len("max_replicas: ") + 1
    assert (f"service.yaml:{line}:{col}: warning: max_replicas 20 cannot carry the declared peak: 1500 rps / "
            "(60 rps per instance x 70% target utilisation) needs 36 replicas (44 with 20% headroom)") in result.stderr


def capacity_warnings(text: str) -> list[str]:
    from opgen.descriptor.load import validate_source
    from opgen.descriptor.source import parse_yaml

    _, warnings = validate_source(parse_yaml(text.encode(), "service.yaml"), runbook_base_url="https://git.example.com/r")
    return [str(w) for w in warnings]


@pytest.mark.parametrize(("text", "warning"), [
    # 150 rps at 42 per pod -> 4, + 2 for one of 3 zones lost = 6.
    (descriptor(traffic=TRAFFIC, scaling="min_replicas: 4"),
     "service.yaml:8:27: min_replicas 4 is below 6, what the declared baseline needs with one of 3 zones lost, at least the "
     "tier 2 floor: losing a zone, a node or a rollout then leaves too few pods to serve (the arithmetic is in "
     "terraform/shop_autoscaling.tf)"),
    (descriptor(tier=1, scaling="min_replicas: 2"),
     "service.yaml:7:27: min_replicas 2 is below 3, the tier 1 floor: losing a zone, a node or a rollout then leaves too few "
     "pods to serve (the arithmetic is in terraform/shop_autoscaling.tf)"),
    (descriptor(traffic=TRAFFIC, gpu="count: 1", scaling="min_replicas: 6"),
     "service.yaml:8:27: min_replicas 6 is below 7, what the declared baseline needs with one of 3 zones lost and a warm "
     "spare, at least the tier 2 floor: losing a zone, a node or a rollout then leaves too few pods to serve (the "
     "arithmetic is in terraform/shop_autoscaling.tf)"),
])
def test_an_explicit_minimum_below_the_zone_loss_and_tier_floor_is_a_warning(text, warning):
    assert capacity_warnings(text) == [warning]


def test_no_warning_for_a_minimum_at_the_floor_or_a_blueprints_default():
    assert capacity_warnings(descriptor(traffic=TRAFFIC, scaling="min_replicas: 6")) == []
    assert capacity_warnings(descriptor(tier=1, blueprint="http-api")) == []  # its 2 is raised to 3, and said so
    assert capacity_warnings(descriptor(tier=3, platform="lambda", scaling="min_replicas: 1")) == []


def test_a_minimum_that_costs_more_than_the_budget_is_a_warning_where_the_minimum_comes_from():
    # 4 pods from the traffic (1 x 10 x 70 % = 7 rps; 20/7 -> 3, + 2 zones = 5, + a spare = 6) at 2 GPUs x 1.5 USD x 730 h.
    text = descriptor(traffic="baseline_rps: 20, per_instance_rps: 10", gpu="count: 2, hourly_cost_usd: 1.5",
                      cost="monthly_budget_usd: 10000")
    assert capacity_warnings(text) == [
        "service.yaml:8:27: the minimum of 6 pods costs 13140 USD a month in GPUs alone (2 GPUs x 1.5 USD x 730 h x 6), "
        "131% of cost.monthly_budget_usd 10000: lower the minimum or raise the budget, with the team"]
    assert capacity_warnings(text.replace("10000", "13140")) == []
    blueprint = descriptor(blueprint="gpu-inference", cost="monthly_budget_usd: 1000")  # its minimum of 2 at 0.8 USD
    [warning] = capacity_warnings(blueprint)
    assert warning.startswith("blueprints/gpu-inference.yaml:") or "gpu-inference.yaml:" in warning.split(": ")[0]
    assert "the minimum of 2 pods costs 1168 USD a month in GPUs alone" in warning and "117% of" in warning


@pytest.mark.parametrize("scaling", ["min_replicas: 6, max_replicas: 36", "min_replicas: 6"])
def test_no_warning_when_max_replicas_carries_the_peak_or_is_computed(tmp_path, scaling):
    (tmp_path / "service.yaml").write_text(descriptor(traffic=TRAFFIC, scaling=scaling))
    result = run_opgen("validate", "service.yaml", cwd=tmp_path)
    assert result.returncode == 0 and "max_replicas" not in result.stderr


# --- hostile strings and determinism ----------------------------------------------------------------

HOSTILE = 'evil" }\nresource "null_resource" "x" {}\n# ${var.secret} %{ if true }\\" \\\\ \r\t<<EOF\nEOF */'


@pytest.mark.parametrize("source", [EXAMPLES / "checkout" / "service.yaml", TEST_DESCRIPTORS / "gpu-inference.yaml",
                                    TEST_DESCRIPTORS / "queue-fresh.yaml",
                                    TEST_DESCRIPTORS / "ecs-all-deps.yaml", TEST_DESCRIPTORS / "lambda.yaml"],
                         ids=lambda p: p.stem)
def test_hostile_names_and_descriptions_cannot_break_the_hcl(source):
    # Validation rejects such names; the renderer must hold even without it.
    service = dataclasses.replace(load_service(source), name=HOSTILE, namespace=HOSTILE, team=HOSTILE, description=HOSTILE)
    doc = parse(render(service))
    found = resources(doc)
    assert sorted(k for k, _, _ in found) == sorted(EXPECTED_RESOURCES[kind_of(source)])
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) for _, name, _ in found)
    strings = []

    def collect(value):
        if isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)
        elif isinstance(value, str):
            strings.append(hcl_value(value))

    collect(doc)
    assert HOSTILE in strings  # a name, namespace, team or default, exactly as given
    assert sum(HOSTILE in s for s in strings) >= 2


def test_same_descriptor_same_bytes_whatever_the_hash_seed(tmp_path):
    outputs = []
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", "import sys; from pathlib import Path; from opgen.descriptor.load import load_service;"
             "from opgen.render import RenderContext; from opgen.render.terraform_autoscaling import render;"
             "[sys.stdout.write(a.text) for p in sys.argv[1:] for a in render(RenderContext(load_service(Path(p)), p))]",
             *map(str, DESCRIPTORS)],
            capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed}, check=True)
        outputs.append(out.stdout)
    assert outputs[0] == outputs[1] and outputs[0]
    assert render(load_service(DESCRIPTORS[0])) == render(load_service(DESCRIPTORS[0]))


# --- the real terraform: init against a provider mirror, then validate -------------------------------

TERRAFORM_SECONDS = 300
# Where a machine keeps a filesystem mirror of providers (`terraform providers mirror DIR` makes one).
MIRRORS = ("/opt/tf-plugins", "~/.terraform.d/plugins", "/usr/local/share/terraform/plugins", "/usr/share/terraform/plugins")


@pytest.fixture(scope="session")
def terraform_binary() -> str:
    import shutil

    path = shutil.which("terraform")
    require(path is not None, "terraform", "download it from releases.hashicorp.com (it is not a Debian package)")
    return path


@pytest.fixture(scope="session")
def aws_provider_mirror() -> Path:
    """A filesystem mirror holding hashicorp/aws: OPGEN_TF_PLUGIN_MIRROR, else a usual place."""
    candidates = [os.environ.get("OPGEN_TF_PLUGIN_MIRROR", "")] + list(MIRRORS)
    found = next((Path(c).expanduser() for c in candidates if c and (Path(c).expanduser() / "registry.terraform.io"
                                                                      / "hashicorp" / "aws").is_dir()), None)
    require(found is not None, "a filesystem mirror of the hashicorp/aws provider",
            "`terraform providers mirror DIR` on a machine with registry access, then OPGEN_TF_PLUGIN_MIRROR=DIR")
    return found


def terraform(binary: str, mirror: Path, provider: str, folder: Path, *args: str) -> subprocess.CompletedProcess:
    """terraform ARGS in `folder`, installing providers from `mirror` only: no registry, no network."""
    config = folder.parent / f"{folder.name}.tfrc"
    config.write_text('provider_installation {\n  filesystem_mirror {\n'
                      f'    path    = "{mirror}"\n    include = ["registry.terraform.io/hashicorp/{provider}"]\n  }}\n}}\n')
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1",
           "TF_PLUGIN_CACHE_DIR": ""}
    return subprocess.run([binary, *args, "-no-color"], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=TERRAFORM_SECONDS)


@pytest.mark.parametrize("source", [TEST_DESCRIPTORS / "ecs-minimal.yaml", TEST_DESCRIPTORS / "ecs-all-deps.yaml",
                                    TEST_DESCRIPTORS / "lambda.yaml"], ids=lambda p: p.stem)
def test_terraform_init_and_validate_accept_the_aws_outputs(tmp_path, source, terraform_binary, aws_provider_mirror):
    [tf_file] = synced_terraform(tmp_path, source)
    module = tmp_path / "module"
    module.mkdir()
    (module / tf_file.name).write_text(tf_file.read_text())
    init = terraform(terraform_binary, aws_provider_mirror, "aws", module, "init", "-input=false", "-backend=false")
    assert init.returncode == 0, init.stdout + init.stderr
    validate = terraform(terraform_binary, aws_provider_mirror, "aws", module, "validate", "-json")
    assert validate.returncode == 0, validate.stdout + validate.stderr
    import json

    report = json.loads(validate.stdout)
    assert report["valid"] is True and report["error_count"] == 0, report


def test_the_kubernetes_output_initialises_in_a_configuration_on_provider_3(tmp_path, terraform_binary):
    """The generated file as a module of a root configuration that pins hashicorp/kubernetes 3.x:
    `terraform init` must find a version both accept. The mirror holds 3.0.1 only (a stand-in
    binary: init resolves versions and never runs a provider)."""
    mirror = tmp_path / "mirror" / "registry.terraform.io" / "hashicorp" / "kubernetes" / "3.0.1" / "linux_amd64"
    mirror.mkdir(parents=True)
    (mirror / "terraform-provider-kubernetes_v3.0.1").write_text("#!/bin/sh\nexit 1\n")
    (mirror / "terraform-provider-kubernetes_v3.0.1").chmod(0o755)
    [tf_file] = synced_terraform(tmp_path, EXAMPLES / "checkout" / "service.yaml")
    root = tmp_path / "root"
    (root / "autoscaling").mkdir(parents=True)
    (root / "autoscaling" / tf_file.name).write_text(tf_file.read_text())
    (root / "main.tf").write_text('terraform {\n  required_providers {\n    kubernetes = {\n      source  = "hashicorp/kubernetes"\n'
                                  '      version = "~> 3.0"\n    }\n  }\n}\n\nmodule "checkout_autoscaling" {\n'
                                  '  source = "./autoscaling"\n}\n')
    init = terraform(terraform_binary, tmp_path / "mirror", "kubernetes", root, "init", "-input=false", "-backend=false")
    assert init.returncode == 0, init.stdout + init.stderr
    assert 'version     = "3.0.1"' in (root / ".terraform.lock.hcl").read_text()
