"""alertmanager/routes.yml in the fleet folder: a complete Alertmanager config for every service of a sync.

Route tree: root -> one route per team (`team` label) -> `severity="page"` to the team's pager
receiver (PagerDuty), `severity="ticket"` to its chat receiver (Slack). Pages of a team with
neither, and of no known team, go to UNROUTED_PAGES_RECEIVER, whose message says that nobody was
paged and how to fix it. Secrets are `*_file` paths under conventions.ALERTMANAGER_SECRETS_DIR,
never values.

One incident, one page: alerts are grouped by team and service only (never by alertname or slo,
which would split a service's incident into one notification per alert); PagerDuty keys its
incident on the group, so later alerts of the same incident update it instead of paging again.

Inhibition is narrow, so that an independent outage still pages (docs/fleet.md):
- a burn page of an SLO holds back the tickets of the same service and SLO;
- a burn page of service X holds back its direct dependents' dependency alerts that name X
  (`dependency` is the name of their dependency on X). Their own SLO and no-data pages always
  go out. A no-data alert is never a source: missing data says nothing about the service.
Planned maintenance (`spec.maintenance`) becomes a time interval per service
(conventions.maintenance_interval) and a route of that service's alerts inside its team's route,
a copy of the team's page and ticket routes with `mute_time_intervals` on each: its own pages and
tickets are muted in the window, its dependents' never are (their alerts carry their own service).
The config is built as data (routes, receivers, inhibit rules, time intervals), then serialized.
"""

from __future__ import annotations

import datetime
from collections import Counter

from opgen import conventions as c
from opgen.descriptor.model import Maintenance
from opgen.descriptor.spec import WEEKDAYS
from opgen.fleet import Fleet, ServiceFacts
from opgen.render import Artifact
from opgen.render.yaml_output import dump_yaml

GROUP_BY = [c.LABEL_TEAM, c.LABEL_SERVICE]  # one notification per service's incident
GROUP_WAIT = "30s"  # how long a new group gathers the alerts that fire with the first
GROUP_INTERVAL = "5m"  # how soon alerts joining a notified group are sent (as an update of it)
REPEAT_INTERVAL, PAGE_REPEAT, TICKET_REPEAT = "4h", "1h", "24h"
BURN_PAGE = f'alertname=~".+{c.SLO_ALERT_SUFFIXES[0]}"'  # the SLO burn-rate alerts (their page pairs with severity)
DEPENDENCY_ALERTS = f'alertname=~"{c.ALERT_DEPENDENCY_ERRORS}|{c.ALERT_DEPENDENCY_LATENCY}"'
FIX_UNROUTED = ("give the team a pager: metadata.oncall.pagerduty_service_id in its services' descriptors "
                "(or metadata.oncall.slack for a channel), then run `opgen sync` on the fleet")


def render(fleet: Fleet, header: str, journeys: tuple = ()) -> Artifact:
    return Artifact(c.ALERTMANAGER_CONFIG_PATH, dump_yaml(config(fleet, journeys), header))


def config(fleet: Fleet, journeys: tuple = ()) -> dict:
    """`journeys` (opgen/journeys.py ResolvedJourney): their alerts carry their team, which gets a
    route even when no service of the fleet is that team's (then the journey's on-call is the team's)."""
    receivers = [_default_receiver(), _unrouted_pages_receiver()]
    routes = []
    for team, services in teams(fleet, journeys).items():
        team_receivers, route = _team(team, services)
        receivers += team_receivers
        routes.append(route)
    routes.append(_unrouted_pages_route())  # pages of no known team
    result = {
        "route": {
            "receiver": c.DEFAULT_RECEIVER,
            "group_by": GROUP_BY,
            "group_wait": GROUP_WAIT,
            "group_interval": GROUP_INTERVAL,
            "repeat_interval": REPEAT_INTERVAL,
            "routes": routes,
        },
        "receivers": receivers,
        "inhibit_rules": inhibit_rules(fleet) + journey_inhibit_rules(journeys),
    }
    intervals = [{"name": c.maintenance_interval(s.name), "time_intervals": time_intervals(s.maintenance)}
                 for s in fleet.services.values() if s.maintenance]
    if intervals:
        result["time_intervals"] = intervals
    return result


def time_intervals(maintenance: Maintenance) -> list[dict]:
    """Alertmanager's time intervals for the windows: one per window, two for a window that runs
    past midnight (a time range ends by 24:00), each in the maintenance's time zone."""
    result = []
    for window in maintenance.windows:
        crosses = window.end <= window.start
        first = {"start_time": window.start, "end_time": "24:00" if crosses else window.end}
        second = {"start_time": "00:00", "end_time": window.end} if crosses and window.end != "00:00" else None
        if window.date:
            day = datetime.date.fromisoformat(window.date)
            result.append({**_on_date(day), "times": [first], "location": maintenance.time_zone})
            if second:
                result.append({**_on_date(day + datetime.timedelta(days=1)), "times": [second], "location": maintenance.time_zone})
        else:
            result.append({"weekdays": list(window.days), "times": [first], "location": maintenance.time_zone})
            if second:
                following = [WEEKDAYS[(WEEKDAYS.index(d) + 1) % 7] for d in window.days]
                result.append({"weekdays": following, "times": [second], "location": maintenance.time_zone})
    return result


MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")


def _on_date(day: datetime.date) -> dict:
    return {"days_of_month": [str(day.day)], "months": [MONTHS[day.month - 1]], "years": [str(day.year)]}


def teams(fleet: Fleet, journeys: tuple = ()) -> dict[str, list[ServiceFacts]]:
    """Each team's services, teams sorted by name; a journey's team none of whose services names an
    on-call contact (or that owns no service of the fleet) has the journey beside them (its on-call data)."""
    by_team: dict[str, list[ServiceFacts]] = {}
    for service in fleet.services.values():
        by_team.setdefault(service.team, []).append(service)
    for resolved in journeys:
        j = resolved.journey
        members = [s for s in by_team.get(j.team, []) if not s.name.startswith(JOURNEY_PREFIX)]
        if not any(s.pagerduty_service_id or s.slack for s in members):
            by_team.setdefault(j.team, []).append(ServiceFacts(JOURNEY_PREFIX + j.name, j.team, 1, j.slack, j.pagerduty_service_id, (), ()))
    return dict(sorted(by_team.items()))


JOURNEY_PREFIX = "journey "  # a journey standing for its team in `teams`: never a service name (no spaces)


def journey_inhibit_rules(journeys: tuple) -> list[dict]:
    """A journey's burn page holds back its burn tickets, as a service's SLO page does its tickets."""
    if not journeys:
        return []
    return [{"source_matchers": [_matcher(c.LABEL_SEVERITY, c.SEVERITY_PAGE), _matcher("alertname", c.ALERT_JOURNEY_BURN)],
             "target_matchers": [_matcher(c.LABEL_SEVERITY, c.SEVERITY_TICKET), _matcher("alertname", c.ALERT_JOURNEY_BURN)],
             "equal": [c.LABEL_JOURNEY]}]


def _matcher(label: str, value: str) -> str:
    return f'{label}="{value}"'


def _regex(label: str, values) -> str:
    return f'{label}=~"{"|".join(sorted(values))}"'  # DNS labels and slugs: nothing to escape


def _by_key(services: list[ServiceFacts], key) -> tuple[str | None, dict[str, list[str]]]:
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


def _team(team: str, services: list[ServiceFacts]) -> tuple[list[dict], dict]:
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
    page = {"matchers": [_matcher(c.LABEL_SEVERITY, c.SEVERITY_PAGE)], "receiver": page_receiver(services),
            "repeat_interval": PAGE_REPEAT}
    ticket = {"matchers": [_matcher(c.LABEL_SEVERITY, c.SEVERITY_TICKET)], "receiver": chat_name, "repeat_interval": TICKET_REPEAT}
    if other_pagers:
        page["routes"] = [{"matchers": [_regex(c.LABEL_SERVICE, names)], "receiver": c.pager_receiver(team, pd)}
                          for pd, names in other_pagers.items()]
    if other_chats:
        ticket["routes"] = [{"matchers": [_regex(c.LABEL_SERVICE, names)], "receiver": c.chat_receiver(team, ch)}
                            for ch, names in other_chats.items()]
    muted = [{"matchers": [_matcher(c.LABEL_SERVICE, s.name)], "receiver": chat_name,
              "mute_time_intervals": [c.maintenance_interval(s.name)],
              "routes": [_muted(page, c.maintenance_interval(s.name)), _muted(ticket, c.maintenance_interval(s.name))]}
             for s in sorted(services, key=lambda s: s.name) if s.maintenance]
    route = {"matchers": [_matcher(c.LABEL_TEAM, team)], "receiver": chat_name, "routes": [*muted, page, ticket]}
    return receivers, route


def _muted(route: dict, interval: str) -> dict:
    """A copy of `route` and every route below it, muted during `interval` (a route's mute times
    are its own: Alertmanager does not pass them down)."""
    copy = {**route, "mute_time_intervals": [interval]}
    if "routes" in route:
        copy["routes"] = [_muted(child, interval) for child in route["routes"]]
    return copy


def page_receiver(team_services: list[ServiceFacts]) -> str:
    """Where a team's pages go: its pager; without PagerDuty its chat channel; with neither, the
    loud unrouted-pages receiver."""
    pager, _ = _by_key(team_services, lambda s: s.pagerduty_service_id)
    chat, _ = _by_key(team_services, lambda s: s.slack)
    return c.pager_receiver(team_services[0].team) if pager else c.chat_receiver(team_services[0].team) if chat \
        else c.UNROUTED_PAGES_RECEIVER


def unpaged(fleet: Fleet) -> dict[str, str]:
    """The services whose pages reach no pager, each with where they go instead (for warnings)."""
    result = {}
    for team, services in teams(fleet).items():
        pager, _ = _by_key(services, lambda s: s.pagerduty_service_id)
        if pager:
            continue
        chat, _ = _by_key(services, lambda s: s.slack)
        where = (f"the Slack channel {chat} of team {team}" if chat
                 else f"{c.UNROUTED_PAGES_RECEIVER} ({c.DEFAULT_ALERT_CHANNEL})")
        result.update({s.name: where for s in services if s.pages})
    return result


def unpaged_journeys(fleet: Fleet, journeys: tuple) -> dict[str, str]:
    """The journeys whose pages reach no pager (their team's route has none), with where they go instead."""
    result = {}
    by_team = teams(fleet, journeys)
    for resolved in journeys:
        services = by_team[resolved.journey.team]
        if _by_key(services, lambda s: s.pagerduty_service_id)[0]:
            continue
        chat, _ = _by_key(services, lambda s: s.slack)
        result[resolved.journey.name] = (f"the Slack channel {chat} of team {resolved.journey.team}" if chat
                                         else f"{c.UNROUTED_PAGES_RECEIVER} ({c.DEFAULT_ALERT_CHANNEL})")
    return result


def _slack(name: str, channel: str, **texts: str) -> dict:
    return {"name": name, "slack_configs": [{
        "channel": channel,
        "api_url_file": f"{c.ALERTMANAGER_SECRETS_DIR}/slack/{channel.lstrip('#')}.url",
        "send_resolved": True,
        **texts,
    }]}


def _pagerduty(name: str, pagerduty_service_id: str) -> dict:
    # The Events API v2 integration key of that PagerDuty service.
    return {"name": name, "pagerduty_configs": [{
        "routing_key_file": f"{c.ALERTMANAGER_SECRETS_DIR}/pagerduty/{pagerduty_service_id}.key",
        "send_resolved": True,
    }]}


def _default_receiver() -> dict:
    return _slack(c.DEFAULT_RECEIVER, c.DEFAULT_ALERT_CHANNEL)


def _unrouted_pages_receiver() -> dict:
    """Slack messages that say, before anything else, that nobody was paged, and how to fix it."""
    return _slack(
        c.UNROUTED_PAGES_RECEIVER, c.DEFAULT_ALERT_CHANNEL,
        title=":rotating_light: UNROUTED PAGE, nobody was paged: {{ .CommonLabels.service }} (team {{ .CommonLabels.team }})",
        text=(f"No pager is routed for team {{{{ .CommonLabels.team }}}}: {FIX_UNROUTED}.\n"
              "{{ range .Alerts }}{{ .Labels.alertname }}: {{ .Annotations.summary }} {{ .Annotations.runbook_url }}\n{{ end }}"),
    )


def _unrouted_pages_route() -> dict:
    return {"matchers": [_matcher(c.LABEL_SEVERITY, c.SEVERITY_PAGE)], "receiver": c.UNROUTED_PAGES_RECEIVER,
            "repeat_interval": PAGE_REPEAT}


def inhibit_rules(fleet: Fleet) -> list[dict]:
    """The burn page of an SLO holds back that SLO's tickets; the burn page of a service holds back
    its direct dependents' dependency alerts about it (one rule per service and dependency name)."""
    rules = [{
        "source_matchers": [_matcher(c.LABEL_SEVERITY, c.SEVERITY_PAGE), BURN_PAGE],
        "target_matchers": [_matcher(c.LABEL_SEVERITY, c.SEVERITY_TICKET), f'{c.LABEL_SLO}=~".+"'],
        "equal": [c.LABEL_SERVICE, c.LABEL_SLO],
    }]
    for name in fleet.services:
        dependents: dict[tuple[str, ...], list[str]] = {}  # the names of their dependency on `name` -> dependents
        for edge in fleet.dependents_of(name):
            dependents.setdefault(edge.dependencies, []).append(edge.source)
        for names, sources in sorted(dependents.items()):
            rules.append({
                "source_matchers": [_matcher(c.LABEL_SERVICE, name), _matcher(c.LABEL_SEVERITY, c.SEVERITY_PAGE), BURN_PAGE],
                "target_matchers": [DEPENDENCY_ALERTS, _regex(c.LABEL_SERVICE, sources), _regex(c.LABEL_DEPENDENCY, names)],
            })
    return rules
