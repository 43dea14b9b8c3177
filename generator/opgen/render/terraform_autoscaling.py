"""ops/terraform/<name>_autoscaling.tf: the autoscaler of the service's platform, sized by opgen.capacity.

- kubernetes: a HorizontalPodAutoscaler (autoscaling/v2) on the Deployment named after the service: CPU
  utilisation and, with traffic figures, requests per second per pod (served by prometheus-adapter).
  GPU services get a KEDA ScaledObject on GPU utilisation (and requests) instead: never CPU alone.
- ecs: Application Auto Scaling target tracking on CPU and, with traffic figures, ALB requests per target.
- lambda: provisioned concurrency on an alias, tracking its utilisation.
Names the descriptor does not know (ECS cluster and service, load balancer, function, Prometheus) are
variables. The capacity arithmetic is written into the file as comments.
"""

from __future__ import annotations

import re
from fractions import Fraction

from opgen import conventions as c
from opgen import promql
from opgen.capacity import Capacity, plan_capacity
from opgen.descriptor.model import Service, default_request_interface
from opgen.render import Artifact, RenderContext, generated_header
from opgen.render.templating import render_template
from opgen.slo.numbers import format_number

PROVIDERS = {
    "kubernetes": {"source": "hashicorp/kubernetes", "version": ">= 2.30, < 3.0"},
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
# Application Auto Scaling (ECS, Lambda): add capacity after a minute, remove it after five.
SCALE_OUT_COOLDOWN_SECONDS = 60
SCALE_IN_COOLDOWN_SECONDS = 300
KEDA_POLLING_INTERVAL_SECONDS = 15
RATE_WINDOW = "2m"  # of the request-rate queries (adapter rule, KEDA trigger)


def render(context: RenderContext) -> list[Artifact]:
    service = context.service
    capacity = plan_capacity(service)
    platform = _platform_template(service)
    text = render_template(
        "terraform/autoscaling.tf.j2",
        header=generated_header(context),
        service=service,
        label=resource_label(service.name),
        capacity=capacity,
        providers={"kubernetes": PROVIDERS["kubernetes"]} if service.platform == "kubernetes" else {"aws": PROVIDERS["aws"]},
        terraform_version=TERRAFORM_VERSION,
        platform_template=platform,
        scale_up=SCALE_UP,
        scale_down=SCALE_DOWN,
        scale_out_cooldown=SCALE_OUT_COOLDOWN_SECONDS,
        scale_in_cooldown=SCALE_IN_COOLDOWN_SECONDS,
        polling_interval=KEDA_POLLING_INTERVAL_SECONDS,
        per_replica_rps=format_number(capacity.per_replica_rps) if capacity.per_replica_rps is not None else None,
        request_rate=request_rate(service, capacity),
        no_request_metric=_why_no_request_metric(service, capacity),
        gpu_query=gpu_utilization_query(service),
        alb_requests_per_minute=_alb_requests_per_minute(service, capacity),
        lambda_target=format_number(Fraction(capacity.target_utilization_percent, 100)),
    )
    return [Artifact(c.terraform_path(service.name), text)]


def resource_label(name: str) -> str:
    """A Terraform identifier for the service's resources: letters, digits and underscores."""
    label = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return label if re.match(r"[A-Za-z_]", label) else "_" + label


def _platform_template(service: Service) -> str:
    if service.platform == "kubernetes":
        return "terraform/keda.tf.j2" if service.gpu is not None else "terraform/kubernetes.tf.j2"
    return f"terraform/{service.platform}.tf.j2"


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
