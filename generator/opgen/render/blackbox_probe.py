"""ops/blackbox/: synthetic traffic for HTTP interfaces that declare a probe (interfaces[].probe).

A quiet service gives its SLO few events, so one failed request spends much of the budget and a
ratio of a handful of requests says little (the SRE workbook's low-traffic chapter: generate
artificial traffic). A blackbox exporter's HTTP prober requests the interface every `interval`:
those requests reach the service and count in its SLIs like any other, and the probe's own
`probe_success` tells a dead service from an idle one.

Two files, for the two programs that read them:
- <name>.blackbox.yml: a blackbox exporter config with the service's module (GET, 2xx is
  success). Several services: merge their `modules` into one file for --config.file.
- <name>.scrape.yml: Prometheus `scrape_configs`, one job per probed interface, that asks the
  exporter at `probe.exporter` to probe the interface's URL (Prometheus 2.43+:
  `scrape_config_files`; older: paste the jobs into prometheus.yml). The job is named
  <name>-probe, so the probe's series never match the service's own selector, and carries the
  `service` label.
"""

from __future__ import annotations

from fractions import Fraction

from opgen import conventions as c
from opgen.descriptor.model import Interface, Service
from opgen.render import Artifact, RenderContext, generated_header
from opgen.render.yaml_output import dump_yaml
from opgen.slo.durations import format_duration, parse_duration

MAX_SCRAPE_TIMEOUT = parse_duration("10s")  # Prometheus's default; never above the interval


def render(context: RenderContext) -> list[Artifact]:
    service = context.service
    probed = [i for i in service.interfaces if i.probe is not None]
    if not probed:
        return []
    header = generated_header(context)
    return [
        Artifact(c.blackbox_config_path(service.name), dump_yaml(blackbox_config(service), header)),
        Artifact(c.probe_scrape_config_path(service.name), dump_yaml({"scrape_configs": [
            scrape_job(service, interface, index) for index, interface in enumerate(probed)]}, header)),
    ]


def blackbox_config(service: Service) -> dict:
    return {"modules": {c.probe_module(service.name): {
        "prober": "http",
        "timeout": c.BLACKBOX_PROBE_TIMEOUT,
        "http": {"method": "GET", "preferred_ip_protocol": "ip4", "valid_status_codes": []},  # [] means any 2xx
    }}}


def probe_target(service: Service, interface: Interface) -> str:
    probe = interface.probe
    return probe.url or c.probe_url(service.name, service.namespace, interface.port, probe.path)


def scrape_job(service: Service, interface: Interface, index: int) -> dict:
    probe = interface.probe
    interval = probe.interval_seconds
    return {
        "job_name": c.probe_job(service.name) + (f"-{index + 1}" if index else ""),
        "metrics_path": "/probe",
        "scrape_interval": format_duration(interval),
        "scrape_timeout": format_duration(min(Fraction(interval), MAX_SCRAPE_TIMEOUT)),
        "params": {"module": [c.probe_module(service.name)]},
        "static_configs": [{"targets": [probe_target(service, interface)], "labels": {c.LABEL_SERVICE: service.name}}],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": probe.exporter},
        ],
    }
