"""Checks that span fields: things one field's declaration cannot know."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from opgen import conventions
from opgen.descriptor.fields import Context
from opgen.descriptor.model import REQUEST_INTERFACES, SLI_INTERFACE, TIME_BASED_SLI_KINDS, Service
from opgen.slo.buckets import MESSAGE_AGE_KEY
from opgen.slo.durations import format_duration, parse_duration
from opgen.slo.numbers import format_number, to_fraction
from opgen.slo.windows import burn_rate_threshold, window_pairs


def check_service(data: dict[str, Any], ctx: Context) -> None:
    spec = data["spec"]
    declared = [i["kind"] for i in spec["interfaces"]]
    for index, slo in enumerate(spec["slos"]):
        path = ("spec", "slos", index)
        _check_alert_names(slo["name"], path, ctx)
        sli = slo["sli"]
        if sli["kind"] in ("availability", "latency"):
            chosen = sli.get("interface")
            if chosen and chosen not in declared:
                ctx.error(path + ("sli", "interface"),
                          f"interface {chosen!r} is not declared in spec.interfaces (declared: {', '.join(declared) or 'none'})")
            elif not chosen and not any(kind in REQUEST_INTERFACES for kind in declared):
                # An SLO from a blueprint is fixed in the descriptor's interfaces, so point there.
                where = path + ("sli", "kind")
                if ctx.source.position(where).file != ctx.source.file and ("spec", "interfaces") in ctx.source.key_positions:
                    where = ("spec", "interfaces")
                ctx.error(where,
                          f"the {sli['kind']} SLI of SLO {slo['name']!r} counts requests, but spec.interfaces declares no "
                          "http, grpc or queue-consumer interface; declare one or use an events SLI")
        elif sli["kind"] in SLI_INTERFACE and SLI_INTERFACE[sli["kind"]] not in declared:
            needed = SLI_INTERFACE[sli["kind"]]
            where = path + ("sli", "kind")
            if ctx.source.position(where).file != ctx.source.file and ("spec", "interfaces") in ctx.source.key_positions:
                where = ("spec", "interfaces")
            ctx.error(where,
                      f"the {sli['kind']} SLI of SLO {slo['name']!r} reads the metrics of a {needed} interface, but "
                      f"spec.interfaces declares none (declared: {', '.join(declared) or 'none'})")
        _warn_about_silent_alerts(slo, path, ctx)
        _warn_about_objectives_that_cannot_work(slo, path, ctx)
        if sli["kind"] in TIME_BASED_SLI_KINDS and "min_bad_events" in slo.get("alerting", {}):
            ctx.error(path + ("alerting", "min_bad_events"),
                      f"min_bad_events does not apply to the {sli['kind']} SLI of SLO {slo['name']!r}: it counts minutes, "
                      "which tick whatever the traffic")
    _check_buckets(spec, declared, ctx)
    _check_previous_names(spec, ctx)
    _check_probes(spec, ctx)
    camel_names: dict[str, int] = {}
    for index, slo in enumerate(spec["slos"]):
        key = conventions.camel(slo["name"])
        if key in camel_names:
            ctx.error(("spec", "slos", index, "name"),
                      f"SLO names {spec['slos'][camel_names[key]]['name']!r} and {slo['name']!r} give the same alert names")
        camel_names.setdefault(key, index)

    scaling = spec.get("scaling", {})
    if "min_replicas" in scaling and "max_replicas" in scaling and scaling["min_replicas"] > scaling["max_replicas"]:
        ctx.error(("spec", "scaling", "min_replicas"),
                  f"min_replicas {scaling['min_replicas']} is more than max_replicas {scaling['max_replicas']}")
    traffic = spec.get("traffic", {})
    if "baseline_rps" in traffic and "peak_rps" in traffic and traffic["baseline_rps"] > traffic["peak_rps"]:
        ctx.error(("spec", "traffic", "baseline_rps"),
                  f"baseline_rps {traffic['baseline_rps']} is more than peak_rps {traffic['peak_rps']}")
    _warn_about_unchecked_instrumentation(data, ctx)
    if "gpu" in spec.get("resources", {}) and spec["runtime"]["platform"] != "kubernetes":
        ctx.error(("spec", "resources", "gpu"),
                  f"GPUs are supported on kubernetes only (the GPU alerts, panels and scaling read the NVIDIA DCGM "
                  f"exporter's pod metrics), not on {spec['runtime']['platform']}")
    if "cron" in declared and spec["runtime"]["platform"] != "kubernetes":
        ctx.error(("spec", "interfaces", declared.index("cron"), "kind"),
                  f"cron interfaces are supported on kubernetes only (the runbooks and SLIs assume a CronJob pushing to "
                  f"a Pushgateway), not on {spec['runtime']['platform']}")
    for index, dep in enumerate(spec["dependencies"]):
        if dep.get("service") == data["metadata"]["name"]:
            ctx.error(("spec", "dependencies", index, "service"), "a service cannot depend on itself")
    _check_error_budget_policy(spec, ctx)
    _check_maintenance(spec.get("maintenance"), ctx)
    maintenance = spec.get("maintenance")
    has_windows = bool(maintenance and (maintenance["weekly"] or maintenance["dates"]))
    for index, slo in enumerate(spec["slos"]):
        if slo.get("maintenance") != "excluded":
            continue
        if not has_windows:
            ctx.error(("spec", "slos", index, "maintenance"),
                      "maintenance: excluded, but spec.maintenance declares no window to exclude; declare the windows "
                      "(spec.maintenance.weekly or dates) or drop this line")
        elif _covers_the_whole_week(maintenance):
            ctx.error(("spec", "slos", index, "maintenance"),
                      "maintenance: excluded, but the weekly windows of spec.maintenance cover the whole week: the SLO "
                      "would measure nothing; shorten the windows or drop this line")


def _covers_the_whole_week(maintenance: dict[str, Any]) -> bool:
    from opgen.descriptor.model import Maintenance, MaintenanceWindow
    from opgen.slo.maintenance_mask import masks_the_whole_week

    windows = tuple(MaintenanceWindow(w["start"], w["end"], days=tuple(w["days"])) for w in maintenance["weekly"]
                    if w["start"] != "24:00" and w["start"] != w["end"])
    return masks_the_whole_week(Maintenance(maintenance.get("time_zone", "UTC"), windows))


def _check_error_budget_policy(spec: dict[str, Any], ctx: Context) -> None:
    policy = spec.get("error_budget_policy", {})
    if "warn_at" in policy and policy["warn_at"] > policy.get("block_at", 100):
        ctx.error(("spec", "error_budget_policy", "warn_at"),
                  f"warn_at {policy['warn_at']} is more than block_at {policy.get('block_at', 100)}: the gate would block before it warns")
    names = [slo["name"] for slo in spec["slos"]]
    for index, name in enumerate(policy.get("slos", [])):
        if name not in names:
            ctx.error(("spec", "error_budget_policy", "slos", index),
                      f"SLO {name!r} is not in spec.slos (declared: {', '.join(names) or 'none'})")


def _check_maintenance(maintenance: dict[str, Any] | None, ctx: Context) -> None:
    """Windows that Alertmanager can express: a start within the day, some length, some day."""
    for which in ("weekly", "dates") if maintenance else ():
        for index, window in enumerate(maintenance[which]):
            path = ("spec", "maintenance", which, index)
            if window["start"] == "24:00":
                ctx.error(path + ("start",), "a window cannot start at 24:00; start at 00:00 (of the next day)")
            elif window["start"] == window["end"]:
                ctx.error(path + ("end",), f"the window starts and ends at {window['start']}: it lasts no time")
            if which == "weekly" and not window["days"]:
                ctx.error(path + ("days",), "days lists no day of the week")


def check_model(service: Service, ctx: Context) -> None:
    """Warnings that need the built service (its settings, its capacity plan, its traffic): an owner
    missing, capacity that does not hold, one failure spending much of a budget, links that open nothing."""
    if service.team == conventions.UNASSIGNED_TEAM and service.tier <= 2:
        ctx.warn(("metadata", "team"),
                 f"team {service.team!r} on a tier {service.tier} service: its alerts are routed to no team and its "
                 "catalog entry has no owner; name the owning team")
    _warn_about_capacity(service, ctx)
    _warn_about_one_failure_budgets(service, ctx)
    _warn_about_unreachable_floors(service, ctx)
    if service.runbook_base_url is None:
        ctx.warn(("metadata", "name"),
                 f"runbook links are repository paths ({conventions.runbook_url(None, service.name)}), which no "
                 "notification, dashboard or catalog link can open; set runbook_base_url in an opgen-settings.yaml "
                 "(at the repository root: the URL where that folder is browsable) or metadata.links.runbook_base_url")


def _warn_about_silent_alerts(slo: dict[str, Any], path, ctx: Context) -> None:
    """A pair whose threshold needs more than every event to fail can never fire."""
    budget = 1 - to_fraction(slo["objective"]) / 100
    window = parse_duration(slo["window"])
    for pair in window_pairs(window):
        factor = burn_rate_threshold(pair, window)
        if factor * budget >= 1:
            ctx.warn(path + ("objective",),
                     f"with an objective of {slo['objective']}% the {pair.severity} alert over {format_duration(pair.long)} "
                     f"can never fire: it needs an error ratio above {format_number(factor * budget * 100)}%")


SCRAPE_INTERVAL = Fraction(60)  # Prometheus's default scrape_interval


def _warn_about_objectives_that_cannot_work(slo: dict[str, Any], path, ctx: Context) -> None:
    """An objective written as a ratio (0.999), and a budget smaller than one scrape of full outage."""
    objective = to_fraction(slo["objective"])
    where = path + ("objective",)
    if objective < 1:
        ctx.warn(where, f"objective {slo['objective']} is a percentage: {slo['objective']}% of events good, which "
                        f"allows {format_number(100 - objective)}% to fail. Did you mean {format_number(objective * 100)}?")
        return
    window = parse_duration(slo["window"])
    budget_seconds = (1 - objective / 100) * window
    if budget_seconds < SCRAPE_INTERVAL:
        ctx.warn(where, f"with an objective of {slo['objective']}% over {slo['window']} the error budget is "
                        f"{_short_duration(budget_seconds)} of full outage, less than one scrape interval (1m by default): "
                        f"a single failed scrape can spend it, and nothing can measure it. "
                        f"{format_number(_nines_for(window))}% over {slo['window']} allows {_short_duration((1 - _nines_for(window) / 100) * window)}")


def _nines_for(window: Fraction) -> Fraction:
    """The highest objective of the 99.9... kind whose budget is at least one scrape interval."""
    objective = Fraction(99)
    while (1 - (objective + (100 - objective) * Fraction(9, 10)) / 100) * window >= SCRAPE_INTERVAL:
        objective += (100 - objective) * Fraction(9, 10)
    return objective


def _short_duration(seconds: Fraction) -> str:
    """Seconds from 999.5ms up, else milliseconds: "2.6ms", "605ms" (never "6e+02ms")."""
    milliseconds = seconds * 1000
    if milliseconds >= Fraction(9995, 10):
        return f"{float(seconds):.3g}s"
    return f"{float(milliseconds):.2g}ms" if milliseconds < 100 else f"{float(milliseconds):.0f}ms"


def _check_buckets(spec: dict[str, Any], declared: list[str], ctx: Context) -> None:
    """Declared buckets belong to a declared histogram, and every threshold read from one is a boundary."""
    buckets = spec["prometheus"].get("buckets", {})
    for key in buckets:
        owner = "queue-consumer" if key == MESSAGE_AGE_KEY else key
        if owner not in declared:
            ctx.error(("spec", "prometheus", "buckets", key),
                      f"buckets for {key}, but spec.interfaces declares no {owner} interface", at_key=True)
    first_request = next((kind for kind in declared if kind in REQUEST_INTERFACES), None)
    for index, slo in enumerate(spec["slos"]):
        sli = slo["sli"]
        key = MESSAGE_AGE_KEY if sli["kind"] == "freshness" else sli.get("interface", first_request) if sli["kind"] == "latency" else None
        if key not in buckets:
            continue
        threshold = parse_duration(sli["threshold"])
        boundaries = sorted(parse_duration(b) for b in buckets[key])
        if threshold in boundaries:
            continue
        below = [b for b in boundaries if b < threshold][-1:]
        above = [b for b in boundaries if b > threshold][:1]
        nearest = " and ".join(format_duration(b) for b in below + above)
        ctx.error(("spec", "slos", index, "sli", "threshold"),
                  f"threshold {sli['threshold']} is not a bucket boundary of the {key} histogram (spec.prometheus.buckets.{key}; "
                  f"nearest: {nearest}): the SLI could not count what is slower. Use one of them, or add "
                  f"{sli['threshold']} to the buckets and to the service's instrumentation")


def _check_previous_names(spec: dict[str, Any], ctx: Context) -> None:
    """A previous name is nobody's current name, and belongs to one SLO."""
    current = {slo["name"] for slo in spec["slos"]}
    seen: dict[str, str] = {}
    for index, slo in enumerate(spec["slos"]):
        for position, name in enumerate(slo["previous_names"]):
            where = ("spec", "slos", index, "previous_names", position)
            if name in current:
                ctx.error(where, f"previous name {name!r} of SLO {slo['name']!r} is the name of an SLO of this service")
            elif name in seen and seen[name] != slo["name"]:
                ctx.error(where, f"previous name {name!r} is claimed by SLOs {seen[name]!r} and {slo['name']!r}")
            seen.setdefault(name, slo["name"])


def _check_probes(spec: dict[str, Any], ctx: Context) -> None:
    for index, interface in enumerate(spec["interfaces"]):
        if "probe" not in interface:
            continue
        where = ("spec", "interfaces", index, "probe")
        if interface["kind"] != "http":
            ctx.error(where, f"probes are for http interfaces (a blackbox exporter's http prober), not {interface['kind']}", at_key=True)
        elif "url" not in interface["probe"] and spec["runtime"]["platform"] != "kubernetes":
            ctx.error(where, f"a probe on {spec['runtime']['platform']} needs a url: there is no Kubernetes service name to reach",
                      at_key=True)


def _warn_about_one_failure_budgets(service: Service, ctx: Context) -> None:
    """What the declared traffic means for each SLO's budget: one failure must not spend much of it."""
    from opgen.alerts import ONE_FAILURE_BUDGET_SHARE, declared_event_rate, page_min_bad_events

    for index, slo in enumerate(service.slos):
        rate = declared_event_rate(service, slo)
        if rate is None or not rate:
            continue
        budget_events = slo.error_budget * rate * slo.window_seconds
        share = 1 / budget_events
        if share <= ONE_FAILURE_BUDGET_SHARE:
            continue
        noun = {"http": "request", "grpc": "call"}.get(slo.sli.interface, "message")
        needed = 1 / (ONE_FAILURE_BUDGET_SHARE * slo.error_budget * slo.window_seconds)  # events/s for one failure to cost 1 %
        probe_interval = max(1, int(1 / (needed - rate))) if needed > rate else None
        longest = Fraction(90 * 86400)
        options = []
        http = next((i for i, interface in enumerate(service.interfaces) if interface.kind == "http"), None)
        if slo.sli.interface == "http" and http is not None and probe_interval is not None:
            options.append(f"synthetic traffic (spec.interfaces[{http}].probe, interval {probe_interval}s or less: one failure then "
                           f"costs 1%)")
        if slo.window_seconds < longest:
            options.append(f"a longer window (window: 90d: {_percent(1 / (slo.error_budget * rate * longest))})")
        lower = next((o for o in LOWER_OBJECTIVES if o < slo.objective_percent
                      and 1 / ((1 - o / 100) * rate * slo.window_seconds) <= ONE_FAILURE_BUDGET_SHARE), None)
        if lower is not None:
            options.append(f"a lower objective ({format_number(lower)}%: {_percent(1 / ((1 - lower / 100) * rate * slo.window_seconds))})")
        ctx.warn(("spec", "slos", index, "objective"),
                 f"at the declared {format_number(rate)} {noun}s per second, the {slo.window} error budget of the {slo.name} SLO "
                 f"({format_number(slo.objective_percent)}%) is {float(budget_events):.4g} failed {noun}s: one failed {noun} spends "
                 f"{_percent(share)} of it (more than {_percent(ONE_FAILURE_BUDGET_SHARE)}). Pages wait for "
                 f"{page_min_bad_events(service, slo)} bad {noun}s in their long window (alerting.min_bad_events), but the SLO "
                 f"itself is mostly noise. Options: " + "; ".join(options))


def _warn_about_unreachable_floors(service: Service, ctx: Context) -> None:
    """An alerting.min_bad_events that a total outage at the declared traffic cannot reach within
    the longest page window: that SLO would never page, whatever fails."""
    from opgen.alerts import declared_event_rate, fast_pairs

    for index, slo in enumerate(service.slos):
        rate = declared_event_rate(service, slo)
        if slo.min_bad_events is None or not rate or not slo.pages:
            continue
        longest = max(pair.long for pair in fast_pairs(slo))
        outage = rate * longest
        if outage >= slo.min_bad_events:
            continue
        ctx.warn(("spec", "slos", index, "alerting", "min_bad_events"),
                 f"min_bad_events {slo.min_bad_events} is more than a total outage makes: at the declared "
                 f"{format_number(rate)} events per second, every event failing gives {float(outage):.4g} bad events in "
                 f"{format_duration(longest)}, the longest page window, so the {slo.name} SLO never pages. Lower it, or "
                 f"leave it out: opgen then derives it from the traffic")


LOWER_OBJECTIVES = tuple(Fraction(x) for x in ("99.95", "99.9", "99.5", "99", "98", "95", "90"))


def _percent(share: Fraction) -> str:
    return f"{float(share * 100):.3g}%"


def _warn_about_capacity(service: Service, ctx: Context) -> None:
    """The descriptor's own bounds against what its traffic needs, and the minimum's cost against the budget."""
    from opgen.capacity import HEADROOM, HOURS_PER_MONTH, monthly_gpu_cost, plan_capacity, replicas_for, with_headroom

    if service.is_cron_job:
        return
    plan = plan_capacity(service)
    traffic, scaling, unit = service.traffic, service.scaling, plan.unit
    own_max, own_min = scaling.own("max_replicas"), scaling.own("min_replicas")
    if own_max is not None and traffic.peak_rps is not None and traffic.per_instance_rps is not None:
        peak, per_instance = to_fraction(traffic.peak_rps), to_fraction(traffic.per_instance_rps)
        needed = replicas_for(peak, per_instance, plan.target_utilization_percent)
        if own_max < needed:  # the autoscaler stops while the service overloads
            ctx.warn(("spec", "scaling", "max_replicas"),
                     f"max_replicas {own_max} cannot carry the declared peak: {format_number(peak)} rps / "
                     f"({format_number(per_instance)} rps per instance x {plan.target_utilization_percent}% target "
                     f"utilisation) needs {needed} replicas ({with_headroom(needed)} with "
                     f"{format_number(HEADROOM * 100)}% headroom)")
    if own_min is not None and own_min < plan.floor_min:
        ctx.warn(("spec", "scaling", "min_replicas"),
                 f"min_replicas {own_min} is below {plan.floor_min}, {plan.floor_reason}: losing a zone, a node or a "
                 f"rollout then leaves too few {unit}s to serve (the arithmetic is in {conventions.terraform_path(service.name)})")
    cost = monthly_gpu_cost(service, plan.min_replicas)
    if cost is not None and service.monthly_budget_usd is not None and cost > to_fraction(service.monthly_budget_usd):
        budget = to_fraction(service.monthly_budget_usd)
        where = {"descriptor": ("spec", "scaling", "min_replicas"), "blueprint": ("spec", "scaling", "min_replicas"),
                 "traffic": ("spec", "traffic", "baseline_rps")}.get(plan.min_source, ("spec", "resources", "gpu"))
        share = f", {format_number(round(cost / budget * 100))}% of" if budget else " over"
        gpus = f"{service.gpu.count} GPU{'s' if service.gpu.count != 1 else ''}"
        ctx.warn(where,
                 f"the minimum of {plan.min_replicas} {unit}s costs {format_number(round(cost))} USD a month in GPUs "
                 f"alone ({gpus} x {format_number(to_fraction(service.gpu.hourly_cost_usd))} USD x {HOURS_PER_MONTH} h "
                 f"x {plan.min_replicas}){share} cost.monthly_budget_usd {format_number(budget)}: "
                 "lower the minimum or raise the budget, with the team")


def _warn_about_unchecked_instrumentation(data: dict[str, Any], ctx: Context) -> None:
    """No stub for the language: the kit is only true if the service emits the contract by itself."""
    from opgen.render import stub_languages

    language = data["spec"]["runtime"]["language"]
    if language not in stub_languages():
        overview = conventions.runbook_overview_path(data["metadata"]["name"])
        ctx.warn(("spec", "runtime", "language"),
                 f"opgen writes no instrumentation for {language} services, so the SLOs, dashboard and autoscaler rely "
                 f"on metrics opgen cannot check: emit the series the runbook overview lists "
                 f"({conventions.OPS_DIR}/{overview}, Instrumentation)")


def _check_alert_names(slo_name: str, path, ctx: Context) -> None:
    longest = conventions.alert_budget_exhausted(slo_name)
    if len(longest) > conventions.ALERT_NAME_LIMIT:
        ctx.error(path + ("name",),
                  f"SLO name {slo_name!r} is too long: its alert {longest} would exceed "
                  f"{conventions.ALERT_NAME_LIMIT} characters")
