"""alertmanager/routes.yml in the fleet folder: a complete Alertmanager config for every service of a sync.

Route tree: root -> one route per team (`team` label) -> `severity="page"` to the team's pager
receiver (PagerDuty), `severity="ticket"` to its chat receiver (Slack). Secrets are `*_file`
paths under conventions.ALERTMANAGER_SECRETS_DIR, never values. Inhibition: an SLO's ticket
while a page of the same service and SLO fires; and the alerts of every service that fails with
X (a path of critical edges in the fleet graph) while a page of X fires.
"""

from __future__ import annotations

from collections import Counter

from opgen import conventions as c
from opgen.descriptor.model import Service
from opgen.fleet import Fleet
from opgen.render import Artifact
from opgen.render.yaml_output import dump_yaml

GROUP_BY = [c.LABEL_TEAM, c.LABEL_SERVICE, c.LABEL_SLO, "alertname"]
PAGE_REPEAT, TICKET_REPEAT = "1h", "24h"


def render(fleet: Fleet, header: str) -> Artifact:
    return Artifact(c.ALERTMANAGER_CONFIG_PATH, dump_yaml(config(fleet), header))


def config(fleet: Fleet) -> dict:
    teams: dict[str, list[Service]] = {}
    for service in fleet.services.values():
        teams.setdefault(service.team, []).append(service)
    receivers = [_default_receiver()]
    routes = []
    for team, services in sorted(teams.items()):
        team_receivers, route = _team(team, services)
        receivers += team_receivers
        routes.append(route)
    return {
        "route": {
            "receiver": c.DEFAULT_RECEIVER,
            "group_by": GROUP_BY,
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "receivers": receivers,
        "inhibit_rules": inhibit_rules(fleet),
    }


def _matcher(label: str, value: str) -> str:
    return f'{label}="{value}"'


def _services_regex(names: list[str]) -> str:
    return "|".join(sorted(names))  # DNS labels: nothing to escape


def _by_key(services: list[Service], key) -> tuple[str | None, dict[str, list[str]]]:
    """The value most of the team's services name (ties: the first in order), and the services of each other value."""
    counts = Counter(key(s) for s in services if key(s))
    if not counts:
        return None, {}
    default = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[0][0]
    others: dict[str, list[str]] = {}
    for service in services:
        if key(service) and key(service) != default:
            others.setdefault(key(service), []).append(service.name)
    return default, dict(sorted(others.items()))


def _team(team: str, services: list[Service]) -> tuple[list[dict], dict]:
    """The team's receivers and its route: page -> pager, ticket -> chat; services that name
    another PagerDuty service or Slack channel than most of the team get a route of their own."""
    receivers = []
    pager, other_pagers = _by_key(services, lambda s: s.pagerduty_service_id)
    chat, other_chats = _by_key(services, lambda s: s.slack)
    chat_name = c.chat_receiver(team) if chat else c.DEFAULT_RECEIVER
    if chat:
        receivers.append(_slack(c.chat_receiver(team), chat))
        receivers += [_slack(c.chat_receiver(team, channel), channel) for channel in other_chats]
    if pager:
        receivers.append(_pagerduty(c.pager_receiver(team), pager))
        receivers += [_pagerduty(c.pager_receiver(team, pd), pd) for pd in other_pagers]
    # Without PagerDuty, pages go where the team's tickets go: a chat channel, or the default.
    pager_name = c.pager_receiver(team) if pager else chat_name
    page = {"matchers": [_matcher(c.LABEL_SEVERITY, c.SEVERITY_PAGE)], "receiver": pager_name, "repeat_interval": PAGE_REPEAT}
    ticket = {"matchers": [_matcher(c.LABEL_SEVERITY, c.SEVERITY_TICKET)], "receiver": chat_name, "repeat_interval": TICKET_REPEAT}
    if other_pagers:
        page["routes"] = [{"matchers": [f'{c.LABEL_SERVICE}=~"{_services_regex(names)}"'], "receiver": c.pager_receiver(team, pd)}
                          for pd, names in other_pagers.items()]
    if other_chats:
        ticket["routes"] = [{"matchers": [f'{c.LABEL_SERVICE}=~"{_services_regex(names)}"'], "receiver": c.chat_receiver(team, ch)}
                            for ch, names in other_chats.items()]
    route = {"matchers": [_matcher(c.LABEL_TEAM, team)], "receiver": chat_name, "routes": [page, ticket]}
    return receivers, route


def _slack(name: str, channel: str) -> dict:
    return {"name": name, "slack_configs": [{
        "channel": channel,
        "api_url_file": f"{c.ALERTMANAGER_SECRETS_DIR}/slack/{channel.lstrip('#')}.url",
        "send_resolved": True,
    }]}


def _pagerduty(name: str, pagerduty_service_id: str) -> dict:
    # The Events API v2 integration key of that PagerDuty service.
    return {"name": name, "pagerduty_configs": [{
        "routing_key_file": f"{c.ALERTMANAGER_SECRETS_DIR}/pagerduty/{pagerduty_service_id}.key",
        "send_resolved": True,
    }]}


def _default_receiver() -> dict:
    return _slack(c.DEFAULT_RECEIVER, c.DEFAULT_ALERT_CHANNEL)


def inhibit_rules(fleet: Fleet) -> list[dict]:
    slo_only = f'{c.LABEL_SLO}=~".+"'  # alerts without an slo label (saturation, dependencies) are not an SLO's
    rules = [{
        "source_matchers": [_matcher(c.LABEL_SEVERITY, c.SEVERITY_PAGE), slo_only],
        "target_matchers": [_matcher(c.LABEL_SEVERITY, c.SEVERITY_TICKET), slo_only],
        "equal": [c.LABEL_SERVICE, c.LABEL_SLO],
    }]
    for name in fleet.services:
        dependents = critical_dependents(fleet, name)
        if dependents:
            rules.append({
                "source_matchers": [_matcher(c.LABEL_SERVICE, name), _matcher(c.LABEL_SEVERITY, c.SEVERITY_PAGE)],
                "target_matchers": [f'{c.LABEL_SERVICE}=~"{_services_regex(dependents)}"'],
            })
    return rules


def critical_dependents(fleet: Fleet, name: str) -> list[str]:
    """The services that fail with `name` (all-critical path), except those it fails with too (a
    critical cycle): two services that inhibit each other would silence both."""
    fails = {d.name for d in fleet.blast_radius(name) if d.fails}
    return sorted(other for other in fails
                  if other in fleet.services and name not in {d.name for d in fleet.blast_radius(other) if d.fails})
