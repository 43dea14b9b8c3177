"""Checks that span fields: things one field's declaration cannot know."""

from __future__ import annotations

from typing import Any

from opgen import conventions
from opgen.descriptor.fields import Context
from opgen.descriptor.model import REQUEST_INTERFACES, SLI_INTERFACE
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
    _warn_about_short_max_replicas(spec, ctx)
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


def _warn_about_short_max_replicas(spec: dict[str, Any], ctx: Context) -> None:
    """An explicit max_replicas below what the declared peak needs: the autoscaler stops while the service overloads."""
    from opgen.capacity import DEFAULT_TARGET_UTILIZATION_PERCENT, HEADROOM, replicas_for, with_headroom

    traffic, scaling = spec.get("traffic", {}), spec.get("scaling", {})
    if "max_replicas" not in scaling or "peak_rps" not in traffic or "per_instance_rps" not in traffic:
        return
    peak, per_instance = to_fraction(traffic["peak_rps"]), to_fraction(traffic["per_instance_rps"])
    target = scaling.get("target_cpu_utilization", DEFAULT_TARGET_UTILIZATION_PERCENT)
    needed = replicas_for(peak, per_instance, target)
    if scaling["max_replicas"] < needed:
        ctx.warn(("spec", "scaling", "max_replicas"),
                 f"max_replicas {scaling['max_replicas']} cannot carry the declared peak: {format_number(peak)} rps / "
                 f"({format_number(per_instance)} rps per instance x {target}% target utilisation) needs {needed} "
                 f"replicas ({with_headroom(needed)} with {format_number(HEADROOM * 100)}% headroom)")


def _check_alert_names(slo_name: str, path, ctx: Context) -> None:
    longest = conventions.alert_budget_exhausted(slo_name)
    if len(longest) > conventions.ALERT_NAME_LIMIT:
        ctx.error(path + ("name",),
                  f"SLO name {slo_name!r} is too long: its alert {longest} would exceed "
                  f"{conventions.ALERT_NAME_LIMIT} characters")
