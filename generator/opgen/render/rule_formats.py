"""The service's rule groups in other wrappers than a plain Prometheus rule file.

- `prometheus-operator`: kubernetes/<name>.prometheusrule.yaml, a monitoring.coreos.com/v1
  PrometheusRule in the service's namespace, labelled for a Prometheus `ruleSelector`.
- `mimir`: mimir/<team>.rules.yaml in the fleet folder, one Mimir / Cortex ruler namespace per
  team (`namespace:` + `groups:`), as `mimirtool rules load` and `cortextool rules load` read it.
  A tenant's rule groups are limited (Mimir: 70), so a service's rules are packed, in the plain
  file's order, into as few groups of at most 20 rules as they fill (ruler_groups).
- Thanos ruler reads plain Prometheus rule files: `prometheus`, the default.

With clusters (opgen-settings.yaml `clusters`), the rules are split by who evaluates them
(prometheus_rules.evaluated_groups): a PrometheusRule per part, labelled
`opgen.dev/evaluation: cluster|global` so each cluster's Prometheus selects the cluster part and a
ThanosRuler the global one; a Mimir ruler namespace holds the global groups only (the cluster
file, prometheus/<name>.cluster.rules.yml, goes to each cluster's Prometheus).

The rules are those of render/prometheus_rules.py (its `rule_groups`): one source of truth.
"""

from __future__ import annotations

from opgen import conventions as c
from opgen.descriptor.model import Service
from opgen.render import Artifact, RenderContext, generated_header
from opgen.render.yaml_output import dump_yaml


def rule_groups(context: RenderContext) -> list[dict]:
    """The groups of the service's plain rule file, as data."""
    from opgen.render import prometheus_rules

    return prometheus_rules.rule_groups(context.service)


def ruler_groups(service: Service) -> list[dict]:
    """The service's rules for a ruler that limits groups per tenant: the plain file's rules (with
    clusters, the global file's: the ruler evaluates nothing of the cluster file) in their order (each recording before the rules that read it), cut into groups of at most
    MAX_RULES_PER_GROUP, the long windows apart (they have their own interval). A rule that reads another group's recording sees it at most one
    evaluation late, as between the plain file's recording and budget groups."""
    from opgen.render import prometheus_rules

    groups = (prometheus_rules.evaluated_groups(service)[c.EVALUATION_GLOBAL] if service.cluster_label
              else prometheus_rules.rule_groups(service))
    packed = []
    for interval, part in ((None, RULER_GROUP_PART), (prometheus_rules.LONG_WINDOW_INTERVAL, prometheus_rules.LONG_WINDOWS_PART)):
        rules = [rule for group in groups if group.get("interval") == interval for rule in group["rules"]]
        chunks = prometheus_rules.chunked(c.rule_group(service.name, None, part), rules)
        packed += [{"name": g["name"], "interval": interval, "rules": g["rules"]} if interval else g for g in chunks]
    return packed


RULER_GROUP_PART = "rules"  # <service>-rules, <service>-rules-2, ...; the long windows: <service>-long-windows, ...


def groups_for_format(service: Service, rules_format: str) -> list[dict]:
    """The groups a ruler loads for the service in this rules format (with clusters: for mimir, the
    global groups the Mimir ruler loads; else both files', which Prometheus and Thanos ruler load)."""
    from opgen.render import prometheus_rules

    return ruler_groups(service) if rules_format == "mimir" else prometheus_rules.rule_groups(service)


def prometheusrule_labels(service: Service) -> dict[str, str]:
    return {"app.kubernetes.io/name": service.name, "app.kubernetes.io/part-of": service.team, **c.PROMETHEUSRULE_LABELS}


def prometheusrule(context: RenderContext) -> list[Artifact]:
    """One PrometheusRule; with clusters, one per evaluation, labelled for a ruleSelector."""
    from opgen.render import prometheus_rules

    service = context.service
    if service.cluster_label is None:
        return [prometheusrule_object(context, f"{service.name}-slo", prometheusrule_labels(service), rule_groups(context),
                                      c.prometheusrule_path(service.name))]
    return [prometheusrule_object(context, f"{service.name}-slo-{evaluation}",
                                  {**prometheusrule_labels(service), c.EVALUATION_LABEL: evaluation}, groups,
                                  c.prometheusrule_path(service.name, evaluation))
            for evaluation, groups in prometheus_rules.evaluated_groups(service).items()]


def prometheusrule_object(context: RenderContext, name: str, labels: dict[str, str], groups: list[dict], path: str) -> Artifact:
    document = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "namespace": context.service.namespace, "labels": labels},
        "spec": {"groups": groups},
    }
    return Artifact(path, dump_yaml(document, generated_header(context)))


def ruler_namespaces(contexts: list[RenderContext], header: str, journeys: tuple = (), tenant_per_team: bool = False) -> list[Artifact]:
    """One ruler namespace per team, its services' groups in name order, then its journeys' (the
    journeys whose steps are all in mimir: opgen/journeys.py ResolvedJourney). With a tenant per
    team, a journey's groups read its steps' teams' tenants too (`source_tenants`, Mimir's
    federated rule groups: -ruler.tenant-federation.enabled)."""
    from opgen.render import journeys as journey_rules

    teams: dict[str, list[dict]] = {}
    for context in sorted(contexts, key=lambda x: x.service.name):
        teams.setdefault(context.service.team, []).extend(ruler_groups(context.service))
    for journey in sorted(journeys, key=lambda j: j.journey.name):
        sources = sorted({journey.journey.team} | {s.service.team for s in journey.steps})
        federated = {"source_tenants": sources} if tenant_per_team and len(sources) > 1 else {}
        teams.setdefault(journey.journey.team, []).extend(
            {"name": g["name"], **federated, **{k: v for k, v in g.items() if k != "name"}} for g in journey_rules.rule_groups(journey))
    return [Artifact(c.ruler_namespace_path(team), dump_yaml({"namespace": team, "groups": groups}, header))
            for team, groups in sorted(teams.items())]
