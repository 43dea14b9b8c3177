"""The service's rule groups in other wrappers than a plain Prometheus rule file.

- `prometheus-operator`: kubernetes/<name>.prometheusrule.yaml, a monitoring.coreos.com/v1
  PrometheusRule in the service's namespace, labelled for a Prometheus `ruleSelector`.
- `mimir`: mimir/<team>.rules.yaml in the fleet folder, one Mimir / Cortex ruler namespace per
  team (`namespace:` + `groups:`), as `mimirtool rules load` and `cortextool rules load` read it.
- Thanos ruler reads plain Prometheus rule files: `prometheus`, the default.

The groups are those of render/prometheus_rules.py (its `rule_groups`): one source of truth.
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


def prometheusrule_labels(service: Service) -> dict[str, str]:
    return {"app.kubernetes.io/name": service.name, "app.kubernetes.io/part-of": service.team, **c.PROMETHEUSRULE_LABELS}


def prometheusrule(context: RenderContext) -> Artifact:
    service = context.service
    document = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": f"{service.name}-slo", "namespace": service.namespace, "labels": prometheusrule_labels(service)},
        "spec": {"groups": rule_groups(context)},
    }
    return Artifact(c.prometheusrule_path(service.name), dump_yaml(document, generated_header(context)))


def ruler_namespaces(contexts: list[RenderContext], header: str) -> list[Artifact]:
    """One ruler namespace per team, its services' groups in name order."""
    teams: dict[str, list[dict]] = {}
    for context in sorted(contexts, key=lambda x: x.service.name):
        teams.setdefault(context.service.team, []).extend(rule_groups(context))
    return [Artifact(c.ruler_namespace_path(team), dump_yaml({"namespace": team, "groups": groups}, header))
            for team, groups in sorted(teams.items())]
