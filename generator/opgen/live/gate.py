"""`opgen gate`: a deploy decision from the error budget, by the service's spec.error_budget_policy.

Per SLO the policy judges: block when the share of the window's budget spent reaches block_at
(100 % by default), warn from warn_at (by tier), allow below; cannot decide without data. A
service is blocked when any of its SLOs blocks, undecided when none blocks but one cannot be
judged; the run takes the worst of its services. Exit codes (cli.py): 0 allow or warn, 1 block,
4 cannot decide, which the caller may treat as a block.
"""

from __future__ import annotations

from dataclasses import dataclass

from opgen.descriptor.model import ErrorBudgetPolicy, Service
from opgen.live.budget import SLOFigures
from opgen.live.times import format_time
from opgen.slo.numbers import format_number

ALLOW, WARN, BLOCK, UNDECIDED = "allow", "warn", "block", "undecided"
SEVERITY = (ALLOW, WARN, UNDECIDED, BLOCK)  # worst last: a known block outweighs an unknown
EXIT_CODES = {ALLOW: 0, WARN: 0, BLOCK: 1, UNDECIDED: 4}


@dataclass(frozen=True)
class SLOVerdict:
    slo: str
    decision: str
    reason: str
    figures: SLOFigures

    def as_json(self) -> dict:
        figures = self.figures.as_json()
        return {"slo": self.slo, "decision": self.decision, "reason": self.reason,
                **{key: figures[key] for key in ("objective", "window", "sli", "budget_spent", "budget_remaining", "status")},
                "partial_data": figures["data"]["partial"]}


@dataclass(frozen=True)
class ServiceVerdict:
    service: Service
    verdicts: tuple[SLOVerdict, ...]

    @property
    def policy(self) -> ErrorBudgetPolicy:
        return self.service.error_budget_policy

    @property
    def decision(self) -> str:
        return worst(v.decision for v in self.verdicts)

    def as_json(self) -> dict:
        policy = self.policy
        return {
            "service": self.service.name,
            "decision": self.decision,
            "policy": {"block_at": float(policy.block_at_percent) / 100, "warn_at": float(policy.warn_at_percent) / 100,
                       "slos": list(policy.slos), "override_by": list(policy.override_by)},
            "slos": [v.as_json() for v in self.verdicts],
        }


def worst(decisions) -> str:
    return max(decisions, key=SEVERITY.index, default=ALLOW)


def judge(service: Service, figures: list[SLOFigures]) -> ServiceVerdict:
    """The policy's verdict on each SLO it names (figures of other SLOs are ignored)."""
    policy = service.error_budget_policy
    judged = [f for f in figures if f.slo.name in policy.slos]
    return ServiceVerdict(service, tuple(_verdict(f, policy) for f in judged))


def _verdict(figures: SLOFigures, policy: ErrorBudgetPolicy) -> SLOVerdict:
    slo, name = figures.slo, f"{figures.service.name}/{figures.slo.name}"
    if not figures.has_data:
        return SLOVerdict(slo.name, UNDECIDED, f"{name}: no data in the {slo.window} window ending "
                                                f"{format_time(figures.at)}: cannot decide", figures)
    spent = figures.budget_spent * 100
    share = round(figures.budget_spent, 12)  # compared as a share of 1: 29 % is 0.29, never 28.999999999999996
    lines = f"warn at {format_number(policy.warn_at_percent)}%, block at {format_number(policy.block_at_percent)}%"
    said = f"{name}: {spent:.2f}% of the {slo.window} error budget spent (SLI {figures.sli * 100:.4f}%, objective " \
           f"{format_number(slo.objective_percent)}%; {lines})"
    if figures.partial and figures.first_sample is not None:
        said += f"; data only since {format_time(max(figures.first_sample, figures.window_start))}"
    if share >= float(policy.block_at_percent / 100):
        who = ", ".join(policy.override_by)
        return SLOVerdict(slo.name, BLOCK, f"{said}: deploy blocked; override by: {who}", figures)
    if share >= float(policy.warn_at_percent / 100):
        return SLOVerdict(slo.name, WARN, f"{said}: deploy allowed, with a warning", figures)
    return SLOVerdict(slo.name, ALLOW, f"{said}: deploy allowed", figures)
