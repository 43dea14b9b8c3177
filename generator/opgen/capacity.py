"""Replica counts from the declared traffic, with the arithmetic spelled out for comments and runbooks.

Pure functions with exact arithmetic (fractions), so one descriptor always gives the same figures
and the same text. The rules, and why:

- `per_instance_rps` is what one replica sustains at full load (a load-test figure,
  docs/descriptor.md). The autoscaler keeps replicas at the target utilisation, so each serves
  per_instance_rps x target, and a load needs ceil(load / (per_instance_rps x target)) replicas.
- Minimum: the baseline must survive the loss of one of ZONES zones. Spread evenly, a zone holds a
  third of the replicas, so the other two thirds must carry the baseline: needed + ceil(needed / 2)
  (the "+1" of N+1 is a zone's worth of replicas).
- Tier floors: tier 1 keeps one replica per zone (3), tier 2 keeps 2 so that one crash or rollout
  never leaves it at zero, tiers 3 and 4 keep 1.
- Maximum: the peak plus HEADROOM (20 %: estimates are wrong, and replicas that restart or roll out
  serve nothing), rounded up, and never below the minimum.
- Precedence, per bound: the descriptor's own `scaling` value, then the figure computed from the
  declared traffic, then the blueprint's `scaling` default (raised to the tier floor, and a
  maximum never below the minimum), then opgen's defaults: the tier floor and
  DEFAULT_MAX_REPLICAS. A blueprint cannot know a service's traffic, so its bounds are for
  services that declare none. Every figure's line says where it came from; the computed figure
  is still shown beside a descriptor's own value.
- GPU services keep GPU_WARM_SPARES more than the zone and tier rule: a new GPU replica takes
  minutes (a GPU node must join, then the model loads), so the autoscaler cannot catch a spike or
  replace a lost replica in time; a warm spare can. Without traffic figures: one replica and the
  spare, at least the tier floor (whose extra replicas are spares already).
Lambda has no zones to spread over (AWS spreads execution environments itself): no zone rule there.

Queue consumers that scale on the broker's backlog aim at a backlog per replica (plan_backlog):
the messages one replica drains within the freshness threshold, per_replica_rps x threshold. At
that backlog a replica working at full speed drains it in target-utilisation x threshold, so the
oldest waiting message is picked up in time. Without a freshness SLO the drain time is
DEFAULT_DRAIN_SECONDS; without traffic.per_instance_rps the target is DEFAULT_BACKLOG_PER_REPLICA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from opgen.descriptor.model import Service
from opgen.slo.numbers import format_number, to_fraction

ZONES = 3
HEADROOM = Fraction(20, 100)
TIER_FLOORS = {1: 3, 2: 2, 3: 1, 4: 1}
DEFAULT_MAX_REPLICAS = 10  # without traffic figures or scaling.max_replicas; at least twice the minimum
DEFAULT_TARGET_UTILIZATION_PERCENT = 70
GPU_TARGET_UTILIZATION_PERCENT = 70  # GPU services scale on GPU busy time; scaling.target_cpu_utilization is about CPU
UNITS = {"kubernetes": "pod", "ecs": "task", "lambda": "execution environment"}
GPU_WARM_SPARES = 1
DEFAULT_DRAIN_SECONDS = 60  # backlog drain time without a freshness SLO
DEFAULT_BACKLOG_PER_REPLICA = 100  # messages, without traffic.per_instance_rps to size it


HOURS_PER_MONTH = 730  # 365 * 24 / 12


@dataclass(frozen=True)
class Capacity:
    min_replicas: int
    max_replicas: int
    target_utilization_percent: int
    target_gpu_utilization_percent: int | None  # GPU services only
    per_replica_rps: Fraction | None  # the request rate per replica autoscalers aim for, when declared
    unit: str  # what a replica is on this platform: pod, task, ...
    arithmetic: tuple[str, ...]  # one sentence per step, for HCL comments and runbooks
    floor_min: int = 0  # the least the rules allow (zone loss of the declared baseline, tier floor, GPU spare)
    floor_reason: str = ""  # why, in a few words
    min_source: str = "opgen"  # where the minimum comes from: descriptor | traffic | blueprint | opgen


def replicas_for(load_rps: Fraction, per_instance_rps: Fraction, target_percent: int) -> int:
    """Replicas that serve `load_rps` while each runs at the target utilisation."""
    return math.ceil(Fraction(load_rps) / served_per_replica(per_instance_rps, target_percent))


def served_per_replica(per_instance_rps: Fraction, target_percent: int) -> Fraction:
    return Fraction(per_instance_rps) * Fraction(target_percent, 100)


def with_headroom(replicas: int) -> int:
    return math.ceil(replicas * (1 + HEADROOM))


def plan_capacity(service: Service) -> Capacity:
    traffic, scaling, unit = service.traffic, service.scaling, UNITS[service.platform]
    per_instance = to_fraction(traffic.per_instance_rps) if traffic.per_instance_rps is not None else None
    lines: list[str] = []

    target = scaling.target_cpu_utilization
    if target is None:
        target = DEFAULT_TARGET_UTILIZATION_PERCENT
        lines.append(f"Target utilisation: {target}% (opgen's default; neither the descriptor nor its blueprint sets "
                     "scaling.target_cpu_utilization).")
    elif scaling.own("target_cpu_utilization") is None:
        lines.append(f"Target utilisation: {target}% ({_blueprints(service)} scaling.target_cpu_utilization).")
    else:
        lines.append(f"Target utilisation: {target}% (scaling.target_cpu_utilization in the descriptor).")
    gpu_target = GPU_TARGET_UTILIZATION_PERCENT if service.gpu is not None else None
    if gpu_target is not None:
        lines.append(f"Target GPU utilisation: {gpu_target}% (opgen's figure for GPU services, which scale on their GPUs).")

    served = served_per_replica(per_instance, target) if per_instance is not None else None
    if served is not None:
        lines.append(f"Per {unit} at {target}%: {_n(per_instance)} rps x {target}% = {_n(served)} rps.")
    computed_min, min_source, floor_min, floor_reason = _minimum(service, served, unit, lines)
    min_replicas = _explicit(scaling.own("min_replicas"), computed_min, "min_replicas", unit, lines)
    if scaling.own("min_replicas") is not None:
        min_source = "descriptor"
    computed_max = _maximum(service, served, min_replicas, unit, lines)
    max_replicas = _explicit(scaling.own("max_replicas"), computed_max, "max_replicas", unit, lines)
    if min_replicas > max_replicas:  # a computed minimum above an explicit maximum: the explicit value wins
        lines.append(f"Minimum lowered to the explicit maximum: {_count(max_replicas, unit)}.")
        min_replicas = max_replicas
    return Capacity(min_replicas, max_replicas, target, gpu_target, served, unit, tuple(lines), floor_min, floor_reason,
                    min_source)


def _blueprints(service: Service) -> str:
    return f"the {service.blueprint} blueprint's"


def _minimum(service: Service, served: Fraction | None, unit: str, lines: list[str]) -> tuple[int, str, int, str]:
    """The minimum before the descriptor's own value, where it comes from (traffic, blueprint or
    opgen), and the floor of the rules with its reason (what an explicit minimum is warned against)."""
    floor = TIER_FLOORS[service.tier]
    baseline = service.traffic.baseline_rps
    default = service.scaling.blueprint_default("min_replicas")
    if baseline is None or served is None:
        if service.gpu is None:
            result, reason = floor, f"the tier {service.tier} floor"
            rule = f"the tier {service.tier} floor, {_count(floor, unit)}"
        else:
            result, reason = max(floor, 1 + GPU_WARM_SPARES), f"one GPU {unit} and a warm spare, at least the tier {service.tier} floor"
            rule = (f"one {unit} and {GPU_WARM_SPARES} warm spare (a new GPU {unit} takes minutes: a GPU node joins, "
                    f"the model loads), at least the tier {service.tier} floor of {floor}: {_count(result, unit)}")
        if default is None:
            lines.append(f"{_undeclared('traffic.baseline_rps', baseline, served)}: the minimum is {rule}.")
            return result, "opgen", result, reason
        if default >= result:
            lines.append(f"{_undeclared('traffic.baseline_rps', baseline, served)}: the minimum is {_blueprints(service)} "
                         f"scaling.min_replicas, {_count(default, unit)}.")
            return default, "blueprint", result, reason
        lines.append(f"{_undeclared('traffic.baseline_rps', baseline, served)}: {_blueprints(service)} scaling.min_replicas "
                     f"of {default} is raised to {rule}.")
        return result, "opgen", result, reason
    result = _from_baseline(service, to_fraction(baseline), served, floor, unit, lines)
    if default is not None and default != result:
        lines.append(f"The declared traffic wins over {_blueprints(service)} scaling.min_replicas of {default}, "
                     "a default for services that declare none.")
    zones = "" if service.platform == "lambda" else f" with one of {ZONES} zones lost"
    spare = " and a warm spare" if service.gpu is not None else ""
    reason = f"what the declared baseline needs{zones}{spare}, at least the tier {service.tier} floor"
    return result, "traffic", result, reason


def _from_baseline(service: Service, baseline: Fraction, served: Fraction, floor: int, unit: str, lines: list[str]) -> int:
    needed = math.ceil(baseline / served)
    lines.append(f"Baseline: {_n(baseline)} rps / {_n(served)} rps per {unit} = {_n(baseline / served)}, "
                 f"rounded up: {_count(needed, unit)}.")
    if service.platform == "lambda":
        spread = needed
        lines.append("No zone rule: Lambda spreads provisioned execution environments over zones itself.")
    else:
        spread = needed + math.ceil(Fraction(needed, ZONES - 1))
        lines.append(f"One of {ZONES} zones lost: {needed} + ceil({needed} / {ZONES - 1}) = {_count(spread, unit)}, "
                     f"so the other {ZONES - 1} zones still carry the baseline.")
    result = max(spread, floor)
    if service.gpu is None:
        lines.append(f"Tier {service.tier} floor: at least {floor}; minimum: {_count(result, unit)}.")
        return result
    lines.append(f"Tier {service.tier} floor: at least {floor}: {_count(result, unit)}.")
    return _with_warm_spares(result, unit, lines)


def _with_warm_spares(replicas: int, unit: str, lines: list[str]) -> int:
    result = replicas + GPU_WARM_SPARES
    lines.append(f"GPU warm spare: {replicas} + {GPU_WARM_SPARES} = {_count(result, unit)}, the minimum: a new GPU {unit} "
                 "takes minutes (a GPU node joins, the model loads), too slow to catch a spike or replace a lost one.")
    return result


def _maximum(service: Service, served: Fraction | None, minimum: int, unit: str, lines: list[str]) -> int:
    peak = service.traffic.peak_rps
    default = service.scaling.blueprint_default("max_replicas")
    if peak is None or served is None:
        without = _undeclared('traffic.peak_rps', peak, served)
        if default is not None and default >= minimum:
            lines.append(f"{without}: the maximum is {_blueprints(service)} scaling.max_replicas, {_count(default, unit)}.")
            return default
        result = max(DEFAULT_MAX_REPLICAS, 2 * minimum)
        below = f" ({_blueprints(service)} scaling.max_replicas of {default} is below the minimum)" if default is not None else ""
        lines.append(f"{without}: the maximum is max({DEFAULT_MAX_REPLICAS}, 2 x minimum {minimum}) = {_count(result, unit)}"
                     f"{below}.")
        return result
    peak = to_fraction(peak)
    needed = math.ceil(peak / served)
    result = max(with_headroom(needed), minimum)
    lines.append(f"Peak: {_n(peak)} rps / {_n(served)} rps per {unit} = {_n(peak / served)}, "
                 f"rounded up: {_count(needed, unit)}.")
    lines.append(f"Headroom {_n(HEADROOM * 100)}%: {needed} x {_n(1 + HEADROOM)} = {_n(needed * (1 + HEADROOM))}, "
                 f"rounded up: {with_headroom(needed)}; maximum: {_count(result, unit)}.")
    if default is not None and default != result:
        lines.append(f"The declared peak wins over {_blueprints(service)} scaling.max_replicas of {default}, "
                     "a default for services that declare no traffic.")
    return result


def monthly_gpu_cost(service: Service, replicas: int) -> Fraction | None:
    """What the GPUs of `replicas` replicas cost in a month (HOURS_PER_MONTH), when the descriptor prices them."""
    if service.gpu is None or service.gpu.hourly_cost_usd is None:
        return None
    return to_fraction(service.gpu.hourly_cost_usd) * service.gpu.count * replicas * HOURS_PER_MONTH


@dataclass(frozen=True)
class Backlog:
    per_replica: int  # messages waiting per replica that the autoscaler aims for
    drain_seconds: Fraction  # how fast a replica must be able to drain that backlog
    arithmetic: tuple[str, ...]


def plan_backlog(service: Service, capacity: Capacity) -> Backlog:
    """The backlog per replica a queue-depth autoscaler aims for (module docstring)."""
    freshness = [s for s in service.slos if s.sli.kind == "freshness"]
    lines: list[str] = []
    if freshness:
        drain = min(s.sli.threshold_seconds for s in freshness)
        names = ", ".join(s.name for s in freshness if s.sli.threshold_seconds == drain)
        lines.append(f"Drain time: {_n(drain)} s, the freshness threshold (SLO {names}).")
    else:
        drain = Fraction(DEFAULT_DRAIN_SECONDS)
        lines.append(f"Drain time: {_n(drain)} s (default; the descriptor has no freshness SLO).")
    served = capacity.per_replica_rps
    if served is None:
        lines.append(f"Without traffic.per_instance_rps: {DEFAULT_BACKLOG_PER_REPLICA} messages per {capacity.unit} "
                     "(default; set traffic.per_instance_rps from a load test).")
        return Backlog(DEFAULT_BACKLOG_PER_REPLICA, drain, tuple(lines))
    per_replica = max(1, math.floor(served * drain))
    rounded = "" if per_replica == served * drain else f", rounded down: {per_replica}"
    lines.append(f"Backlog per {capacity.unit}: {_n(served)} messages/s x {_n(drain)} s = {_n(served * drain)}{rounded} messages; "
                 f"at full speed a {capacity.unit} drains them in "
                 f"{_n(Fraction(per_replica) / to_fraction(service.traffic.per_instance_rps))} s.")
    return Backlog(per_replica, drain, tuple(lines))


def _explicit(value: int | None, computed: int, field: str, unit: str, lines: list[str]) -> int:
    if value is None:
        return computed
    if value == computed:
        lines.append(f"scaling.{field} in the descriptor agrees: {_count(value, unit)}.")
    else:
        lines.append(f"scaling.{field} in the descriptor wins: {_count(value, unit)} (the figures above give {computed}).")
    return value


def _undeclared(load_field: str, load, per_instance) -> str:
    pairs = ((load_field, load), ("traffic.per_instance_rps", per_instance))
    return "Without " + " and ".join(name for name, value in pairs if value is None)


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" + ("" if n == 1 else "s")


def _n(value: Fraction) -> str:
    return format_number(value)
