"""Checks that span fields: things one field's declaration cannot know."""

from __future__ import annotations

from typing import Any

from opgen import conventions
from opgen.descriptor.fields import Context
from opgen.descriptor.model import REQUEST_INTERFACES, SLI_INTERFACE, Service
from opgen.slo.durations import format_duration, parse_duration
from opgen.slo.numbers import format_number, to_fraction
from opgen.slo.windows import WINDOW_PAIRS, burn_rate_factor


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
    """Warnings that need the built service (its settings, its capacity plan): an owner missing,
    capacity that does not hold, links that open nothing."""
    if service.team == conventions.UNASSIGNED_TEAM and service.tier <= 2:
        ctx.warn(("metadata", "team"),
                 f"team {service.team!r} on a tier {service.tier} service: its alerts are routed to no team and its "
                 "catalog entry has no owner; name the owning team")
    _warn_about_capacity(service, ctx)
    if service.runbook_base_url is None:
        ctx.warn(("metadata", "name"),
                 f"runbook links are repository paths ({conventions.runbook_url(None, service.name)}), which no "
                 "notification, dashboard or catalog link can open; set runbook_base_url in an opgen-settings.yaml "
                 "(at the repository root: the URL where that folder is browsable) or metadata.links.runbook_base_url")


def _warn_about_silent_alerts(slo: dict[str, Any], path, ctx: Context) -> None:
    """A pair whose threshold needs more than every event to fail can never fire."""
    budget = 1 - to_fraction(slo["objective"]) / 100
    window = parse_duration(slo["window"])
    for pair in WINDOW_PAIRS:
        factor = burn_rate_factor(pair.budget_share, window, pair.long)
        if factor * budget >= 1:
            ctx.warn(path + ("objective",),
                     f"with an objective of {slo['objective']}% the {pair.severity} alert over {format_duration(pair.long)} "
                     f"can never fire: it needs an error ratio above {format_number(factor * budget * 100)}%")


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
