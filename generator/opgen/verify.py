"""`opgen verify PATH`: run the real tools and parsers that are installed over a generated kit.

One result per check and file. A tool or parser that is not installed gives a `skip` with how to
install it, never a pass. Nothing here writes into the kit: promtool and the stub import run on
the files where they are, in a subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from opgen import conventions as c

OK, FAIL, SKIP = "ok", "FAIL", "skip"
INSTALL_PARSERS = "pip install 'opgen[verify]'"
INSTALL_PROMTOOL = "apt-get install prometheus (Debian), or promtool from prometheus.io"
INSTALL_AMTOOL = "apt-get install prometheus-alertmanager (Debian), or amtool from prometheus.io"
TOOL_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Result:
    status: str  # ok | FAIL | skip
    check: str
    subject: str  # a file relative to the kit, or what the check covers
    detail: str = ""


def find_kit(path: Path) -> Path | None:
    """The ops/ folder at PATH: PATH itself, or PATH/ops, or the ops/ beside a descriptor file."""
    for candidate in (path, path / c.OPS_DIR, path.parent / c.OPS_DIR):
        if candidate.is_dir() and (candidate / c.MANIFEST_PATH).is_file():
            return candidate
    return None


def find_kits(path: Path) -> list[Path]:
    """Every kit PATH names: the one find_kit finds, and, below a folder, each ops/ folder with a
    manifest. A fleet's root holds its fleet folder (the Alertmanager config) and every service's kit."""
    kits = [kit] if (kit := find_kit(path)) is not None else []
    if path.is_dir() and kit != path:
        for folder, subfolders, _ in os.walk(path):
            here = Path(folder)
            kits += [here / c.OPS_DIR] if c.OPS_DIR in subfolders and (here / c.OPS_DIR / c.MANIFEST_PATH).is_file() else []
            subfolders[:] = sorted(d for d in subfolders if d not in (c.OPS_DIR, "node_modules", "__pycache__")
                                   and not d.startswith("."))
    return list(dict.fromkeys(kits))


def verify(kit: Path) -> list[Result]:
    results: list[Result] = []
    for check in CHECKS:
        results.extend(check(kit))
    return results


def _files(kit: Path, pattern: str) -> list[Path]:
    return sorted(p for p in kit.glob(pattern) if p.is_file())


def _name(kit: Path, path: Path) -> str:
    return path.relative_to(kit).as_posix()


def _run(args: list[str], cwd: Path | None = None, env: dict | None = None) -> tuple[bool, str]:
    try:
        done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {TOOL_TIMEOUT_SECONDS}s"
    output = (done.stdout + done.stderr).strip()
    return done.returncode == 0, output


def _first_lines(text: str, count: int = 6) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    shown = "\n        ".join(lines[:count])
    return shown + (f"\n        ... ({len(lines) - count} more lines)" if len(lines) > count else "")


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except ModuleNotFoundError:
        return True


def _parsers_missing(check: str, subject: str, *modules: str) -> Result | None:
    """A skip naming the packages to install, when a parser the check needs is not installed."""
    absent = [m for m in modules if _missing(m)]
    if not absent:
        return None
    return Result(SKIP, check, subject, f"{', '.join(PACKAGES[m] for m in absent)} not installed: {INSTALL_PARSERS}")


PACKAGES = {"jsonschema": "jsonschema", "hcl2": "python-hcl2", "markdown_it": "markdown-it-py",
            "opentelemetry.sdk": "opentelemetry-sdk", "opentelemetry.exporter.prometheus": "opentelemetry-exporter-prometheus"}


# --- promtool ---------------------------------------------------------------------------------


def check_rules(kit: Path) -> Iterator[Result]:
    files = [p for p in _files(kit, "prometheus/*.yml") if not p.name.endswith(".test.yml")]
    yield from _promtool(kit, "rules", files, ["check", "rules"])


def check_rule_tests(kit: Path) -> Iterator[Result]:
    yield from _promtool(kit, "rule tests", _files(kit, "prometheus/*.test.yml"), ["test", "rules"])


def _promtool(kit: Path, check: str, files: list[Path], args: list[str]) -> Iterator[Result]:
    if not files:
        return
    promtool = shutil.which("promtool")
    if promtool is None:
        yield Result(SKIP, check, "prometheus/", f"promtool is not installed: {INSTALL_PROMTOOL}")
        return
    for path in files:
        passed, output = _run([promtool, *args, path.name], cwd=path.parent)
        yield Result(OK if passed else FAIL, check, _name(kit, path), "" if passed else _first_lines(output))


def check_wrapped_rules(kit: Path) -> Iterator[Result]:
    """PrometheusRule objects (spec.groups) and Mimir / Cortex ruler namespaces (namespace + groups),
    unwrapped into a plain rule file in a temporary folder, then `promtool check rules`."""
    import tempfile

    from ruamel.yaml import YAML

    from opgen.render.yaml_output import dump_yaml

    wrapped = [(p, "PrometheusRule", lambda d: d["spec"]["groups"]) for p in _files(kit, "kubernetes/*.prometheusrule.yaml")]
    # A ruler namespace's journey groups may read other tenants (`source_tenants`, a Mimir field promtool does not know).
    wrapped += [(p, "ruler namespace", lambda d: [{k: v for k, v in g.items() if k != "source_tenants"} for g in d["groups"]])
                for p in _files(kit, "mimir/*.rules.yaml")]
    if not wrapped:
        return
    promtool = shutil.which("promtool")
    if promtool is None:
        yield Result(SKIP, "rules (wrapped)", "kubernetes/, mimir/", f"promtool is not installed: {INSTALL_PROMTOOL}")
        return
    with tempfile.TemporaryDirectory(prefix="opgen-verify-") as scratch:
        for path, kind, unwrap in wrapped:
            try:
                groups = unwrap(YAML(typ="safe").load(path.read_text(encoding="utf-8")))
            except Exception as exc:  # not YAML, or not the wrapper's shape
                yield Result(FAIL, f"rules ({kind})", _name(kit, path), f"cannot unwrap: {exc!r}")
                continue
            plain = Path(scratch) / path.name
            plain.write_text(dump_yaml({"groups": groups}), encoding="utf-8")
            passed, output = _run([promtool, "check", "rules", str(plain)])
            yield Result(OK if passed else FAIL, f"rules ({kind})", _name(kit, path), "" if passed else _first_lines(output))


# --- dashboards ---------------------------------------------------------------------------------

# Grafana's variables, replaced by what they stand for so the query parses as PromQL.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def check_dashboard_queries(kit: Path) -> Iterator[Result]:
    import promql_parser

    for path in _files(kit, "grafana/*.json"):
        try:
            dashboard = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            yield Result(FAIL, "dashboard", _name(kit, path), f"not JSON: {exc}")
            continue
        problems, count = [], 0
        for title, expr in dashboard_queries(dashboard):
            count += 1
            text = expr
            for variable, value in GRAFANA_VARIABLES.items():
                text = text.replace(variable, value)
            try:
                promql_parser.parse(text)
            except ValueError as exc:
                problems.append(f"panel {title!r}: {exc}")
        detail = "; ".join(problems) if problems else f"{count} queries parse as PromQL"
        yield Result(FAIL if problems else OK, "dashboard queries", _name(kit, path), detail)


def dashboard_queries(dashboard: dict) -> Iterator[tuple[str, str]]:
    def panels(items):
        for panel in items or []:
            yield panel
            yield from panels(panel.get("panels"))

    for panel in panels(dashboard.get("panels")):
        for target in panel.get("targets") or []:
            if target.get("expr"):
                yield panel.get("title", ""), target["expr"]


# --- OpenSLO -----------------------------------------------------------------------------------


def check_openslo(kit: Path) -> Iterator[Result]:
    files = _files(kit, "slo/*.yaml")
    if not files:
        return
    skip = _parsers_missing("OpenSLO schema", "slo/", "jsonschema")
    if skip:
        yield skip
        return
    from jsonschema import Draft202012Validator
    from ruamel.yaml import YAML

    from opgen.resources import data_path

    schema = json.loads((data_path("schemas") / "openslo-v1.schema.json").read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema)
    for path in files:
        try:
            documents = [d for d in YAML(typ="safe", pure=True).load_all(path.read_text(encoding="utf-8")) if d is not None]
        except Exception as exc:  # ruamel raises many error types; all mean "not YAML"
            yield Result(FAIL, "OpenSLO schema", _name(kit, path), f"not YAML: {exc}")
            continue
        problems = [f"{d.get('kind')} {d.get('metadata', {}).get('name')}: {e.message}"
                    for d in documents for e in validator.iter_errors(d)]
        detail = "; ".join(problems[:5]) if problems else f"{len(documents)} documents valid"
        yield Result(FAIL if problems else OK, "OpenSLO schema", _name(kit, path), detail)


# --- Terraform ------------------------------------------------------------------------------------


def check_hcl(kit: Path) -> Iterator[Result]:
    files = _files(kit, "terraform/*.tf")
    if not files:
        return
    skip = _parsers_missing("HCL parse", "terraform/", "hcl2")
    if skip:
        yield skip
        return
    import hcl2

    for path in files:
        try:
            with path.open(encoding="utf-8") as handle:
                hcl2.load(handle)
        except Exception as exc:  # lark raises its own error types
            yield Result(FAIL, "HCL parse", _name(kit, path), _first_lines(str(exc), 3))
        else:
            yield Result(OK, "HCL parse", _name(kit, path))


# --- runbooks --------------------------------------------------------------------------------------

URL_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def check_runbook_links(kit: Path) -> Iterator[Result]:
    files = _files(kit, "runbooks/**/*.md")
    if not files:
        return
    skip = _parsers_missing("runbook links", "runbooks/", "markdown_it")
    if skip:
        yield skip
        return
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark")
    links, failed = 0, False
    for path in files:
        broken = []
        for href in _links(parser.parse(path.read_text(encoding="utf-8"))):
            if URL_SCHEME.match(href) or href.startswith("#"):
                continue
            links += 1
            if not (path.parent / href.split("#", 1)[0]).resolve().exists():
                broken.append(href)
        if broken:
            failed = True
            yield Result(FAIL, "runbook links", _name(kit, path), "broken: " + ", ".join(broken))
    if not failed:
        yield Result(OK, "runbook links", "runbooks/", f"{len(files)} pages, {links} relative links checked")


def _links(tokens) -> Iterator[str]:
    for token in tokens:
        if token.type == "link_open":
            yield token.attrs.get("href", "")
        if token.children:
            yield from _links(token.children)


# --- instrumentation ------------------------------------------------------------------------------


def check_stub_import(kit: Path) -> Iterator[Result]:
    files = _files(kit, "otel/*.py")
    if not files:
        return
    skip = _parsers_missing("stub import", "otel/", "opentelemetry.sdk", "opentelemetry.exporter.prometheus")
    if skip:
        yield skip
        return
    for path in files:
        # A fresh interpreter imports the module from a path (setup() is not called: no port opened).
        code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('stub', sys.argv[1]); "
                "spec.loader.exec_module(importlib.util.module_from_spec(spec))")
        passed, output = _run([sys.executable, "-c", code, str(path)])
        yield Result(OK if passed else FAIL, "stub import", _name(kit, path), "" if passed else _first_lines(output))


INSTALL_GO = ("apt-get install golang-go golang-github-prometheus-client-golang-dev (Debian), or in a Go module: "
              "go get github.com/prometheus/client_golang")
INSTALL_NODE = "apt-get install nodejs (Debian), or Node.js 18+ from nodejs.org"
INSTALL_NODE_PACKAGES = ("npm install @opentelemetry/api @opentelemetry/sdk-metrics@2 @opentelemetry/resources@2 "
                         "@opentelemetry/exporter-prometheus prom-client, in the service's package")
# What go says of an import its module does not provide (and, with GOPROXY=off, will not fetch).
MISSING_FROM_MODULE = ("cannot find module providing package", "no required module provides package",
                       "missing go.sum entry for module providing package")
DEBIAN_GOPATH = Path("/usr/share/gocode")  # where Debian's golang-*-dev packages put their sources
CLIENT_GOLANG = "github.com/prometheus/client_golang"


def check_go_stub(kit: Path) -> Iterator[Result]:
    """gofmt parses each generated Go package, then `go vet` (which compiles it) in the service's Go
    module when it is in one (never downloading: GOPROXY=off, go.mod read only), else in GOPATH
    mode against client_golang from a GOPATH (Debian's included)."""
    packages = sorted({p.parent for p in _files(kit, "otel/*/telemetry.go")})
    if not packages:
        return
    go, gofmt = shutil.which("go"), shutil.which("gofmt")
    if go is None or gofmt is None:
        yield Result(SKIP, "go stub", "otel/", f"the Go toolchain is not installed: {INSTALL_GO}")
        return
    for package in packages:
        parsed, output = _run([gofmt, "-e", "-l", str(package)])
        if not parsed:
            yield Result(FAIL, "go stub", _name(kit, package), _first_lines(output))
            continue
        yield _go_vet(go, kit, package)


def _go_vet(go: str, kit: Path, package: Path) -> Result:
    import tempfile

    module = next((folder for folder in (package, *package.parents) if (folder / "go.mod").is_file()), None)
    if module is not None:
        env = {**os.environ, "GO111MODULE": "on", "GOFLAGS": "-mod=readonly", "GOPROXY": "off"}
        passed, output = _run([go, "vet", "./" + package.relative_to(module).as_posix()], cwd=module, env=env)
        if not passed and any(f"{reason} {CLIENT_GOLANG}" in output for reason in MISSING_FROM_MODULE):
            return Result(SKIP, "go stub", _name(kit, package), f"{CLIENT_GOLANG} is not in the module {module / 'go.mod'} "
                          f"or its download cache: go get {CLIENT_GOLANG}")
        return Result(OK if passed else FAIL, "go stub", _name(kit, package), "" if passed else _first_lines(output))
    gopaths = [Path(p) for p in _go_env(go, "GOPATH").split(os.pathsep) if p] + [DEBIAN_GOPATH]
    found = [p for p in gopaths if (p / "src" / CLIENT_GOLANG).is_dir()]
    if not found:
        return Result(SKIP, "go stub", _name(kit, package), f"syntax ok (gofmt); not built: {CLIENT_GOLANG} is in no "
                      f"GOPATH and the package is in no Go module: {INSTALL_GO}")
    with tempfile.TemporaryDirectory(prefix="opgen-verify-") as scratch:
        copy = Path(scratch) / "src" / "opgen.verify" / package.name
        shutil.copytree(package, copy)
        env = {**os.environ, "GO111MODULE": "off", "GOFLAGS": "", "GOPATH": os.pathsep.join(map(str, [scratch, *found]))}
        passed, output = _run([go, "vet", f"opgen.verify/{package.name}"], cwd=copy, env=env)
    return Result(OK if passed else FAIL, "go stub", _name(kit, package), "" if passed else _first_lines(output))


def _go_env(go: str, variable: str) -> str:
    passed, output = _run([go, "env", variable])
    return output if passed else ""


def check_node_stub(kit: Path) -> Iterator[Result]:
    """`node --check` parses each generated module, then a fresh node loads it (setup() is not
    called: no port opens) from where it is, so it finds the packages the service installed."""
    files = _files(kit, "otel/*.js")
    if not files:
        return
    node = shutil.which("node")
    if node is None:
        yield Result(SKIP, "node stub", "otel/", f"node is not installed: {INSTALL_NODE}")
        return
    for path in files:
        parsed, output = _run([node, "--check", str(path)])
        if not parsed:
            yield Result(FAIL, "node stub", _name(kit, path), _first_lines(output))
            continue
        loaded, output = _run([node, "-e", "require(process.argv[1])", str(path.resolve())], cwd=path.parent)
        missing = re.findall(r"Cannot find module '((?:@[\w.-]+/)?[\w.-]+)'", output)
        if not loaded and missing:
            yield Result(SKIP, "node stub", _name(kit, path), f"syntax ok (node --check); not loaded: {missing[0]} is not "
                         f"installed where the module is: {INSTALL_NODE_PACKAGES}")
            continue
        yield Result(OK if loaded else FAIL, "node stub", _name(kit, path), "" if loaded else _first_lines(output))


# --- Alertmanager ---------------------------------------------------------------------------------


def check_alertmanager(kit: Path) -> Iterator[Result]:
    files = _files(kit, "alertmanager/*.yml")
    if not files:
        return
    amtool = shutil.which("amtool")
    if amtool is None:
        yield Result(SKIP, "alertmanager config", "alertmanager/", f"amtool is not installed: {INSTALL_AMTOOL}")
        return
    for path in files:
        passed, output = _run([amtool, "check-config", str(path)])
        yield Result(OK if passed else FAIL, "alertmanager config", _name(kit, path), "" if passed else _first_lines(output))


def check_conflict_markers(kit: Path) -> Iterator[Result]:
    """No file opgen wrote still holds the markers of a merge (`sync --merge` where edits overlapped):
    a rules file with them does not load, a runbook with them reads as nonsense. Keep-regions are
    the team's own text and are not looked at."""
    from opgen.errors import FileError
    from opgen.paths import read_text
    from opgen.sync.manifest import read_manifest
    from opgen.sync.plan import CONFLICT_MARKER
    from opgen.sync.regions import blank

    try:
        paths = sorted(read_manifest(kit).files)
    except FileError as error:
        yield Result(FAIL, "conflict markers", c.MANIFEST_PATH, str(error))
        return
    for relative in paths:
        try:
            found = read_text(kit / relative)
        except FileError as error:
            yield Result(FAIL, "conflict markers", relative, str(error))
            continue
        if found is None:
            continue
        marker = CONFLICT_MARKER.search(blank(found[0], relative))
        if marker:
            line = found[0].count("\n", 0, found[0].find(marker.group(0))) + 1
            yield Result(FAIL, "conflict markers", relative, f"line {line} holds {marker.group(1)}: resolve the merge")


# --- synthetic traffic: blackbox exporter modules and their scrape jobs ----------------------------

INSTALL_BLACKBOX = "apt-get install prometheus-blackbox-exporter (Debian), or blackbox_exporter from prometheus.io"


def check_probes(kit: Path) -> Iterator[Result]:
    """The blackbox exporter loads its config (--config.check); the scrape jobs are a valid Prometheus config."""
    modules = _files(kit, "blackbox/*.blackbox.yml")
    exporter = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
    if modules and exporter is None:
        yield Result(SKIP, "probe modules", "blackbox/", f"the blackbox exporter is not installed: {INSTALL_BLACKBOX}")
    for path in modules if exporter else ():
        passed, output = _run([exporter, f"--config.file={path}", "--config.check"])
        yield Result(OK if passed else FAIL, "probe modules", _name(kit, path), "" if passed else _first_lines(output))
    yield from _promtool(kit, "probe scrape jobs", _files(kit, "blackbox/*.scrape.yml"), ["check", "config"])


CHECKS: tuple[Callable[[Path], Iterator[Result]], ...] = (
    check_conflict_markers, check_rules, check_rule_tests, check_wrapped_rules, check_dashboard_queries, check_openslo, check_hcl,
    check_runbook_links, check_stub_import, check_go_stub, check_node_stub, check_alertmanager, check_probes,
)


def format_result(result: Result) -> str:
    line = f"{result.status:<4}  {result.check:<20} {result.subject}"
    if result.detail:
        separator = "\n        " if "\n" in result.detail else "  "
        line += separator + result.detail
    return line
