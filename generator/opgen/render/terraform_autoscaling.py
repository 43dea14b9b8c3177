"""ops/terraform/<name>_autoscaling.tf: the autoscaler of the service's platform, sized by opgen.capacity.

- kubernetes: a HorizontalPodAutoscaler (autoscaling/v2) on the Deployment named after the service: CPU
  utilisation and, with traffic figures, requests per second per pod (served by prometheus-adapter).
- kubernetes, KEDA: a ScaledObject instead, when CPU says too little about the load:
  - a queue consumer with a broker dependency (kafka, rabbitmq, sqs) scales on its backlog, read by
    the broker's own KEDA scaler, at the backlog one pod drains within the freshness threshold
    (capacity.plan_backlog); services that also answer requests keep CPU and request triggers;
  - a GPU service scales on GPU utilisation (and requests), or on the backlog when it is a queue
    consumer with a broker; never on CPU. It scales down slowly, since a GPU pod takes minutes to
    come back, and capacity.py keeps a warm spare.
  KEDA names the HPA it creates after the service, so `kubectl get hpa <name>` and the
  ReplicasAtMaximum alert find it.
- ecs: Application Auto Scaling target tracking on CPU and, with traffic figures, ALB requests per target.
- lambda: provisioned concurrency on an alias, tracking its utilisation.
- cron jobs (every interface is cron): no file. A CronJob starts one pod per run; there is nothing to scale.
Names the descriptor does not know (ECS cluster and service, load balancer, function, Prometheus,
topics, queues, consumer groups, broker credentials) are variables. The capacity arithmetic is
written into the file as comments.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from fractions import Fraction

from opgen import conventions as c
from opgen import promql
from opgen.capacity import Backlog, Capacity, plan_backlog, plan_capacity
from opgen.descriptor.model import Dependency, Service, default_request_interface
from opgen.render import Artifact, RenderContext, generated_header
from opgen.render.templating import render_template
from opgen.slo.numbers import format_number

PROVIDERS = {
    # Both resources used (kubernetes_horizontal_pod_autoscaler_v2, kubernetes_manifest) are unchanged in 3.x.
    "kubernetes": {"source": "hashicorp/kubernetes", "version": ">= 2.30, < 4.0"},
    "aws": {"source": "hashicorp/aws", "version": ">= 5.0, < 7.0"},
}
TERRAFORM_VERSION = ">= 1.3"

# Scale up fast: no stabilisation, double or add 4 pods every 15 s, whichever adds more.
SCALE_UP = {"stabilization_window_seconds": 0, "select_policy": "Max",
            "policies": ({"type": "Percent", "value": 100, "period_seconds": 15},
                         {"type": "Pods", "value": 4, "period_seconds": 15})}
# Scale down slowly: only after 5 minutes of lower recommendations, then at most 10 % a minute
# (the HPA rounds the pods that stay down, so at least one pod goes each minute).
SCALE_DOWN = {"stabilization_window_seconds": 300, "select_policy": "Min",
              "policies": ({"type": "Percent", "value": 10, "period_seconds": 60},)}
# GPU pods take minutes to come back (a GPU node joins, the model loads): give one up only after
# 15 minutes of lower recommendations, and at most one pod every 5 minutes.
GPU_SCALE_DOWN = {"stabilization_window_seconds": 900, "select_policy": "Min",
                  "policies": ({"type": "Pods", "value": 1, "period_seconds": 300},)}
# Application Auto Scaling (ECS, Lambda): add capacity after a minute, remove it after five.
SCALE_OUT_COOLDOWN_SECONDS = 60
SCALE_IN_COOLDOWN_SECONDS = 300
KEDA_POLLING_INTERVAL_SECONDS = 15
RATE_WINDOW = "2m"  # of the request-rate queries (adapter rule, KEDA trigger)
QUEUE_BROKERS = ("kafka", "rabbitmq", "sqs")  # dependency kinds with a KEDA queue-depth scaler
PROMETHEUS_VARIABLE = "prometheus_server_address"


def render(context: RenderContext) -> list[Artifact]:
    service = context.service
    kind = autoscaler(service)
    if kind is None:
        return []
    capacity = plan_capacity(service)
    triggers, variables = keda_triggers(service, capacity) if kind == "keda" else ((), ())
    text = render_template(
        "terraform/autoscaling.tf.j2",
        header=generated_header(context),
        service=service,
        label=resource_label(service.name),
        capacity=capacity,
        providers={"kubernetes": PROVIDERS["kubernetes"]} if service.platform == "kubernetes" else {"aws": PROVIDERS["aws"]},
        terraform_version=TERRAFORM_VERSION,
        platform_template=f"terraform/{kind}.tf.j2",
        scale_up=SCALE_UP,
        scale_down=GPU_SCALE_DOWN if service.gpu is not None else SCALE_DOWN,
        scale_out_cooldown=SCALE_OUT_COOLDOWN_SECONDS,
        scale_in_cooldown=SCALE_IN_COOLDOWN_SECONDS,
        polling_interval=KEDA_POLLING_INTERVAL_SECONDS,
        per_replica_rps=format_number(capacity.per_replica_rps) if capacity.per_replica_rps is not None else None,
        request_rate=request_rate(service, capacity),
        no_request_metric=_why_no_request_metric(service, capacity),
        triggers=triggers,
        variables=variables,
        backlog=plan_backlog(service, capacity) if queue_brokers(service) else None,
        keda_reasons=keda_reasons(service),
        alb_requests_per_minute=_alb_requests_per_minute(service, capacity),
        lambda_target=format_number(Fraction(capacity.target_utilization_percent, 100)),
    )
    return [Artifact(c.terraform_path(service.name), text)]


def autoscaler(service: Service) -> str | None:
    """What scales the service: hpa, keda (a ScaledObject), ecs, lambda; None for cron jobs."""
    if service.is_cron_job:
        return None
    if service.platform != "kubernetes":
        return service.platform
    return "keda" if service.gpu is not None or queue_brokers(service) else "hpa"


def queue_brokers(service: Service) -> tuple[Dependency, ...]:
    """The broker dependencies of a Kubernetes queue consumer, whose backlog it scales on."""
    if service.platform != "kubernetes" or not any(i.kind == "queue-consumer" for i in service.interfaces):
        return ()
    return tuple(d for d in service.dependencies if d.kind in QUEUE_BROKERS)


def keda_reasons(service: Service) -> list[str]:
    reasons = []
    if queue_brokers(service):
        reasons.append("it consumes from a broker, and the backlog says how many pods the work needs")
    if service.gpu is not None:
        reasons.append("it runs on GPUs, whose load CPU does not show")
    return reasons


# --- KEDA triggers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variable:
    name: str
    description: str


@dataclass(frozen=True)
class MetadataValue:
    literal: str | None = None  # a string the template quotes
    variable: str | None = None  # or the name of a variable


@dataclass(frozen=True)
class Trigger:
    comments: tuple[str, ...]
    type: str
    metric_type: str
    metadata: tuple[tuple[str, MetadataValue], ...]
    authentication: str | None = None  # the variable naming its TriggerAuthentication


def keda_triggers(service: Service, capacity: Capacity) -> tuple[tuple[Trigger, ...], tuple[Variable, ...]]:
    """The ScaledObject's triggers and the variables they read. HPA takes the largest replica count
    any trigger asks for."""
    triggers: list[Trigger] = []
    variables: list[Variable] = []
    brokers = queue_brokers(service)
    if brokers:
        backlog = plan_backlog(service, capacity)
        for dependency in brokers:
            trigger, needed = queue_trigger(service, dependency, backlog)
            triggers.append(trigger)
            variables += needed
    serves_requests = any(i.kind in ("http", "grpc") for i in service.interfaces)
    if service.gpu is not None and not brokers:
        triggers.append(Trigger(
            (f"Mean GPU busy percentage per pod, summed; KEDA aims at {capacity.target_gpu_utilization_percent} per pod.",),
            "prometheus", "AverageValue", _prometheus_metadata(gpu_utilization_query(service), str(capacity.target_gpu_utilization_percent))))
    if service.gpu is None and serves_requests:
        triggers.append(Trigger(
            (f"CPU at {capacity.target_utilization_percent}% of the pods' requests, for the requests the service also answers.",),
            "cpu", "Utilization", (("value", MetadataValue(str(capacity.target_utilization_percent))),)))
    rate = request_rate(service, capacity)
    if rate is not None and (not brokers or rate["interface"] != "queue-consumer"):
        triggers.append(Trigger(
            (f"Requests per second over all pods; KEDA aims at {rate['per_pod']} per pod (what one pod serves).",),
            "prometheus", "AverageValue", _prometheus_metadata(rate["query"], rate["per_pod"])))
    if any(t.type == "prometheus" for t in triggers):
        variables.insert(0, Variable(PROMETHEUS_VARIABLE,
                                     "Prometheus HTTP API that KEDA queries, e.g. http://prometheus-operated.monitoring.svc:9090"))
    return tuple(triggers), tuple(variables)


def _prometheus_metadata(query: str, threshold: str) -> tuple[tuple[str, MetadataValue], ...]:
    return (("serverAddress", MetadataValue(variable=PROMETHEUS_VARIABLE)), ("query", MetadataValue(query)),
            ("threshold", MetadataValue(threshold)))


def queue_trigger(service: Service, dependency: Dependency, backlog: Backlog) -> tuple[Trigger, list[Variable]]:
    """The broker's own KEDA scaler at `backlog.per_replica` waiting messages per pod; it reads its
    credentials from a TriggerAuthentication only when the dependency declares `auth`."""
    prefix = resource_label(dependency.name)
    target = str(backlog.per_replica)
    ns = service.namespace
    auth = Variable(f"{prefix}_trigger_authentication", AUTH_DESCRIPTIONS[dependency.kind].format(name=dependency.name, namespace=ns))
    trigger, variables = _broker_trigger(service, dependency, prefix, target)
    if not dependency.auth:
        return trigger, variables
    return dataclasses.replace(trigger, authentication=auth.name), [*variables, auth]


def _broker_trigger(service: Service, dependency: Dependency, prefix: str, target: str) -> tuple[Trigger, list[Variable]]:
    if dependency.kind == "kafka":
        variables = [
            Variable(f"{prefix}_bootstrap_servers", f"Bootstrap servers of {dependency.name}, host:port, comma-separated."),
            Variable(f"{prefix}_topic", f"Topic of {dependency.name} that {service.name} consumes."),
            Variable(f"{prefix}_consumer_group", f"Consumer group of {service.name} on that topic; KEDA reads its lag."),
        ]
        metadata = (("bootstrapServers", variables[0]), ("topic", variables[1]), ("consumerGroup", variables[2]))
        trigger = Trigger(
            (f"Lag of the consumer group on {dependency.name} (kafka): {target} messages per pod.",
             "KEDA never runs more pods than the topic has partitions: extra consumers would sit idle."),
            "kafka", "AverageValue",
            tuple((k, MetadataValue(variable=v.name)) for k, v in metadata) + (("lagThreshold", MetadataValue(target)),))
    elif dependency.kind == "rabbitmq":
        variables = [Variable(f"{prefix}_queue", f"Queue of {dependency.name} that {service.name} consumes.")]
        metadata = (("mode", MetadataValue("QueueLength")), ("value", MetadataValue(target)),
                    ("queueName", MetadataValue(variable=variables[0].name)))
        if not dependency.auth:  # with auth, the TriggerAuthentication holds the URL and its credentials
            variables.append(Variable(f"{prefix}_host", f"AMQP URL of {dependency.name}, amqp://<host>:5672/<vhost> "
                                                         "(the dependency declares no auth: no credentials)."))
            metadata += (("host", MetadataValue(variable=variables[1].name)),)
        trigger = Trigger((f"Messages ready in the queue on {dependency.name} (rabbitmq): {target} per pod.",),
                          "rabbitmq", "AverageValue", metadata)
    else:
        variables = [
            Variable(f"{prefix}_queue_url", f"URL of the SQS queue {dependency.name}, https://sqs.<region>.amazonaws.com/<account>/<queue>."),
            Variable(f"{prefix}_aws_region", f"AWS region of the SQS queue {dependency.name}."),
        ]
        metadata = (("queueURL", MetadataValue(variable=variables[0].name)), ("awsRegion", MetadataValue(variable=variables[1].name)),
                    ("queueLength", MetadataValue(target)))
        comments = (f"Messages in the SQS queue {dependency.name}, visible and in flight: {target} per pod.",)
        if not dependency.auth:
            metadata += (("identityOwner", MetadataValue("operator")),)
            comments += ("The dependency declares no auth: KEDA reads the queue with its operator's own AWS identity, "
                         "which needs sqs:GetQueueAttributes on it.",)
        trigger = Trigger(comments, "aws-sqs-queue", "AverageValue", metadata)
    return trigger, variables


AUTH_DESCRIPTIONS = {
    "kafka": "Name of the KEDA TriggerAuthentication in namespace {namespace} with what KEDA needs to read "
             "consumer lag from {name}: sasl, username and password, tls and ca, as the brokers require "
             "(an empty spec for brokers without authentication).",
    "rabbitmq": "Name of the KEDA TriggerAuthentication in namespace {namespace} whose host parameter is the "
                "connection URL of {name}, amqp://<user>:<password>@<host>:5672/<vhost>, from a Secret.",
    "sqs": "Name of the KEDA TriggerAuthentication in namespace {namespace} that lets KEDA read the queue "
           "attributes of {name}: podIdentity provider aws (identityOwner workload reuses the service's "
           "IAM role), which needs sqs:GetQueueAttributes.",
}


def resource_label(name: str) -> str:
    """A Terraform identifier for the service's resources: letters, digits and underscores."""
    label = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return label if re.match(r"[A-Za-z_]", label) else "_" + label


def request_rate(service: Service, capacity: Capacity) -> dict | None:
    """The per-pod request-rate metric an autoscaler aims at, when the descriptor says what one pod serves.

    The HPA reads it from prometheus-adapter, which must name the rate of each request histogram's
    _count series <histogram without _duration_seconds>_per_second, per namespace and pod; KEDA queries
    Prometheus directly."""
    interface = default_request_interface(service.interfaces)
    if capacity.per_replica_rps is None or interface is None:
        return None
    metric = c.REQUEST_METRICS[interface]
    return {
        "interface": interface,
        "series": metric.count,
        "adapter_metric": metric.histogram.removesuffix("_duration_seconds") + "_per_second",
        "query": f"sum(rate({promql.selector(metric.count, service.selector)}[{RATE_WINDOW}]))",  # the service's own series
        "per_pod": format_number(capacity.per_replica_rps),
        "window": RATE_WINDOW,
        "adapter_series": "|".join(m.count for m in c.REQUEST_METRICS.values()),
    }


def _why_no_request_metric(service: Service, capacity: Capacity) -> str:
    if capacity.per_replica_rps is None:
        return "the descriptor declares no traffic.per_instance_rps"
    if service.platform == "ecs":
        return "the service has no http or grpc interface behind a load balancer"
    return "the service has no http, grpc or queue-consumer interface"


def gpu_utilization_query(service: Service) -> str | None:
    """Sum over pods of each pod's mean GPU busy percentage (NVIDIA DCGM exporter): against a per-pod
    threshold, KEDA's AverageValue asks for ceil(sum / threshold) pods."""
    if service.gpu is None:
        return None
    pods = ",".join(c.k8s_pod_matchers(service.namespace, service.name))
    return f"sum(avg by (pod) ({c.GPU_UTILIZATION}{{{pods}}}))"


def _alb_requests_per_minute(service: Service, capacity: Capacity) -> str | None:
    """ALBRequestCountPerTarget counts requests per target per minute: what one task serves, times 60."""
    kinds = {i.kind for i in service.interfaces}
    if capacity.per_replica_rps is None or not kinds & {"http", "grpc"}:
        return None
    return format_number(capacity.per_replica_rps * 60)
