"""spec.error_budget_policy: what `opgen gate` blocks and warns about, with defaults from the tier."""

from fractions import Fraction

import pytest

from opgen.descriptor.load import load_service_text
from opgen.errors import DescriptorError

BASE = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: checkout, team: payments, tier: %(tier)s}
spec:
  interfaces: [{kind: http}]
  slos:
    - {name: availability, objective: 99.9, sli: {kind: availability}}
    - {name: latency, objective: 99, sli: {kind: latency, threshold: 300ms}}
%(policy)s"""


def service(tier: int = 2, policy: str = ""):
    return load_service_text(BASE % {"tier": tier, "policy": policy}, "service.yaml")


def problems(policy: str) -> list[str]:
    try:
        service(policy=policy)
    except DescriptorError as error:
        return [str(p) for p in sorted(error.problems)]
    return []


@pytest.mark.parametrize(("tier", "warn_at"), [(1, 50), (2, 75), (3, 90), (4, 90)])
def test_by_default_the_gate_blocks_a_spent_budget_and_warns_by_tier(tier, warn_at):
    policy = service(tier).error_budget_policy
    assert policy.block_at_percent == 100 and policy.warn_at_percent == warn_at
    assert policy.slos == ("availability", "latency") and policy.override_by == ("payments",)


def test_declared_values_win():
    policy = service(1, "  error_budget_policy: {block_at: 80, warn_at: 60.5, slos: [latency], "
                        "override_by: ['@shop/payments-leads', sre]}\n").error_budget_policy
    assert (policy.block_at_percent, policy.warn_at_percent) == (80, Fraction(121, 2))
    assert policy.slos == ("latency",) and policy.override_by == ("@shop/payments-leads", "sre")


def test_a_block_line_below_the_tiers_warning_line_moves_the_warning_down():
    assert service(1, "  error_budget_policy: {block_at: 30}\n").error_budget_policy.warn_at_percent == 30


@pytest.mark.parametrize(("policy", "expected"), [
    ("{block_at: 50, warn_at: 60}", "service.yaml:9:48: warn_at 60 is more than block_at 50: the gate would block before it warns"),
    ("{slos: [availability, latncy]}", "service.yaml:9:46: SLO 'latncy' is not in spec.slos (declared: availability, latency)"),
    ("{block_at: 0}", "service.yaml:9:35: spec.error_budget_policy.block_at is 0; it must be between 0 and 1000 (both excluded)"),
    ("{override_by: ['payments leads']}", "service.yaml:9:39: spec.error_budget_policy.override_by[0] 'payments leads' is not valid"),
    ("{block: 100}", "service.yaml:9:25: unknown field spec.error_budget_policy.block (did you mean 'block_at'?)"),
])
def test_policy_problems_name_line_and_column(policy, expected):
    found = problems(f"  error_budget_policy: {policy}\n")
    assert len(found) == 1 and found[0].startswith(expected), found
