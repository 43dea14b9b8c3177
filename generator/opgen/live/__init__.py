"""The live commands: what the descriptor says, checked against what a Prometheus has seen.

`report` (SLIs and error budgets over each SLO's window), `gate` (the error-budget policy before a
deploy), `backtest` (the generated alerts over the past) and `audit` (declared against observed)
read a Prometheus HTTP API through `client.Prometheus`; nothing here writes anywhere. The PromQL
they send is built from the same pieces the generated rules are (opgen.slo.sli and the rendered
rule groups), so what they report is what the rules would have said. docs/live.md.
"""
