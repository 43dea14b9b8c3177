"""ops/backstage/<name>.catalog-info.yaml: the service as a Backstage Component entity.

The catalog then shows what the rest of the kit already knows: owner, system, dependencies, and
the annotations that point Backstage plugins at the generated rules, dashboard and on-call:

- Prometheus plugin (@roadiehq/backstage-plugin-prometheus): `prometheus.io/alert` lists the
  service's alert names (alerts.service_alerts, the list the rules are written from), and
  `prometheus.io/labels: service=<name>` narrows them to this service, since names such as
  CPUNearLimit are shared by every service. `prometheus.io/rule` graphs the SLO recordings
  (error ratio over 5m, budget remaining), grouped by slo; a service without SLOs has none.
  The plugin splits that annotation on ',' and '|', so the queries contain neither.
- Grafana plugin (@backstage-community/plugin-grafana), only when metadata.links.grafana_url
  says where the dashboard lives: `grafana/overview-dashboard` is its URL in kiosk mode (the
  plugin embeds it), `grafana/dashboard-selector` selects it by the per-service tag the dashboard
  carries (conventions.dashboard_tag): the plugin's `@>` works on arrays (tags) only, and throws on
  a string such as the dashboard's url.
- PagerDuty plugin: `pagerduty.com/service-id`, only when the descriptor names one.
- `opgen.dev/descriptor`: the descriptor, relative to this file, as Backstage resolves relative
  references from the entity's own location.

Choices:
- spec.lifecycle is `production` when the service declares at least one SLO and `experimental`
  when it declares none: the tier says how critical a service is, not how mature, but a service
  with no objective is not yet held to production standards. The tier is a tag (`tier-<n>`).
- spec.system only when the descriptor names one (metadata.system): Backstage shows an entity whose
  System is not declared in the catalog with a broken relation, and a namespace is not a System.
- spec.dependsOn: `component:<service>` for a dependency that names an opgen service (its own
  catalog file declares that component), `resource:<name>` for the others (databases, queues,
  buckets, external APIs), in descriptor order without repeats.

Registering it: Backstage discovers `catalog-info.yaml` at a repository's root by convention, but
opgen writes only under ops/. Point a Location at the file, in app-config.yaml
(`catalog.locations: [{type: url, target: https://…/ops/backstage/<name>.catalog-info.yaml}]`),
or from a root catalog-info.yaml of kind Location (`spec.targets: [./ops/backstage/<name>.catalog-info.yaml]`),
or with the scaffolder's `catalog:register` action (templates/backstage/template.yaml does).
"""

from __future__ import annotations

import posixpath

from opgen import conventions as c
from opgen import promql
from opgen.alerts import service_alerts
from opgen.descriptor.model import Service
from opgen.render import Artifact, RenderContext, generated_header
from opgen.render.yaml_output import dump_yaml
from opgen.slo.durations import format_duration
from opgen.slo.windows import SHORT_WINDOW

API_VERSION = "backstage.io/v1alpha1"
KIND = "Component"
COMPONENT_TYPE = "service"
LIFECYCLE_PRODUCTION, LIFECYCLE_EXPERIMENTAL = "production", "experimental"
TAG = "opgen"

ANNOTATION_PROMETHEUS_ALERT = "prometheus.io/alert"
ANNOTATION_PROMETHEUS_LABELS = "prometheus.io/labels"
ANNOTATION_PROMETHEUS_RULE = "prometheus.io/rule"
ANNOTATION_GRAFANA_OVERVIEW = "grafana/overview-dashboard"
ANNOTATION_GRAFANA_SELECTOR = "grafana/dashboard-selector"
ANNOTATION_PAGERDUTY = "pagerduty.com/service-id"
ANNOTATION_DESCRIPTOR = "opgen.dev/descriptor"

# Recorded series worth a graph on the entity page, each grouped by SLO.
GRAPHED_RECORDINGS = (c.sli_error_ratio(format_duration(SHORT_WINDOW)), c.PERIOD_BUDGET_REMAINING)


def render(context: RenderContext) -> list[Artifact]:
    service = context.service
    text = generated_header(context) + dump_yaml(entity(service, context.descriptor_label))
    return [Artifact(c.catalog_info_path(service.name), text)]


def entity(service: Service, descriptor_label: str) -> dict:
    metadata: dict = {"name": service.name}
    if service.description:
        metadata["description"] = service.description
    metadata["tags"] = tags(service)
    metadata["annotations"] = annotations(service, descriptor_label)
    if entity_links := links(service):
        metadata["links"] = entity_links
    spec = {
        "type": COMPONENT_TYPE,
        "lifecycle": lifecycle(service),
        "owner": f"group:{service.team}",
    }
    if service.system:
        spec["system"] = service.system
    if dependencies := depends_on(service):
        spec["dependsOn"] = dependencies
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


def lifecycle(service: Service) -> str:
    return LIFECYCLE_PRODUCTION if service.slos else LIFECYCLE_EXPERIMENTAL


def tags(service: Service) -> list[str]:
    """Backstage tags: lower-case words joined by '-'; the team, tier, platform and language."""
    candidates = (service.team, f"tier-{service.tier}", service.platform, service.language, TAG)
    return list(dict.fromkeys(candidates))


def annotations(service: Service, descriptor_label: str) -> dict[str, str]:
    result = {
        ANNOTATION_PROMETHEUS_ALERT: ",".join(dict.fromkeys(a.name for a in service_alerts(service))),
        ANNOTATION_PROMETHEUS_LABELS: f"{c.LABEL_SERVICE}={service.name}",
    }
    if service.slos:
        result[ANNOTATION_PROMETHEUS_RULE] = ",".join(graphed_queries(service))
    if service.grafana_url:
        result[ANNOTATION_GRAFANA_OVERVIEW] = c.dashboard_url(service.grafana_url, service.name) + "?kiosk"
        result[ANNOTATION_GRAFANA_SELECTOR] = f"tags @> '{c.dashboard_tag(service.name)}'"
    if service.pagerduty_service_id:
        result[ANNOTATION_PAGERDUTY] = service.pagerduty_service_id
    result[ANNOTATION_DESCRIPTOR] = descriptor_from_entity(descriptor_label, c.catalog_info_path(service.name))
    return result


def graphed_queries(service: Service) -> list[str]:
    """`query|dimension` pairs: the service's recordings, one line per SLO."""
    service_matcher = promql.matcher(c.LABEL_SERVICE, service.name)
    return [f"{promql.selector(metric, service_matcher)}|{c.LABEL_SLO}" for metric in GRAPHED_RECORDINGS]


def descriptor_from_entity(descriptor_label: str, entity_path: str) -> str:
    """The descriptor relative to the entity file: descriptor_label is relative to the folder that
    holds ops/, and the entity lives at ops/<entity_path>."""
    up = [".."] * (entity_path.count("/") + 1)
    return posixpath.normpath(posixpath.join(*up, descriptor_label))


def links(service: Service) -> list[dict[str, str]]:
    result = []
    if service.grafana_url:
        result.append({"url": c.dashboard_url(service.grafana_url, service.name), "title": "Grafana dashboard", "icon": "dashboard"})
    if service.runbook_base_url:
        result.append({"url": c.runbook_overview_url(service.runbook_base_url, service.name), "title": "Runbooks", "icon": "docs"})
    return result


def depends_on(service: Service) -> list[str]:
    refs = (f"component:{d.service}" if d.service else f"resource:{d.name}" for d in service.dependencies)
    return list(dict.fromkeys(refs))
