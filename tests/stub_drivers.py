"""Run a generated instrumentation stub in its own language: the plan of requests, messages and calls
the drivers play (tests/telemetry_driver.py, tests/go/driver.go, tests/node/driver.js), and how each
language's driver is built and started.

Python runs in a fresh interpreter; Node.js with NODE_PATH reaching tests/node/node_modules (what
`npm ci` there installs); Go is built in GOPATH mode against Debian's Go packages, since the module
proxy is out of reach, with one build cache for the session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

from conftest import real_tool, require
from opgen import contract
from opgen import conventions as c
from opgen.descriptor.model import Service
from opgen.render import otel_go, otel_node, otel_python

TESTS = Path(__file__).parent
LANGUAGES = ("python", "go", "node")
PYTHON_DRIVER = TESTS / "telemetry_driver.py"
NODE_DRIVER = TESTS / "node" / "driver.js"
NODE_MODULES = TESTS / "node" / "node_modules"
NODE_PACKAGES = ("@opentelemetry/api", "@opentelemetry/sdk-metrics", "@opentelemetry/resources",
                 "@opentelemetry/exporter-prometheus", "prom-client")
GO_DRIVER = TESTS / "go" / "driver.go"
DEBIAN_GOPATH = Path("/usr/share/gocode")  # where Debian's golang-*-dev packages put their sources
CLIENT_GOLANG = "github.com/prometheus/client_golang"
GO_IMPORT_ROOT = "opgen.test"  # the packages under test live at GOPATH/src/opgen.test/
RUN_TIMEOUT_SECONDS = 120

# What the drivers do to an http interface: the app answers each path as telemetry_driver.wsgi_app
# says. PROPFIND is not a method the semantic conventions know: it is recorded as _OTHER.
HTTP_REQUESTS = (("GET", "/"), ("GET", "/"), ("GET", "/orders/42"), ("GET", "/missing"), ("GET", "/fail"),
                 ("GET", "/boom"), ("GET", "/slow"), ("GET", "/slow"), ("PROPFIND", "/"))
FAILING_PATHS = ("/fail", "/boom")
ASGI_REQUESTS = 2  # the Python driver also sends two through ASGIMiddleware, one of them failing
AGE_PROBE_SECONDS = Fraction(60)  # a default message-age boundary, checked where no freshness SLO adds one
# error.type of a request whose handler failed before answering, as each stub names it.
UNANSWERED_ERROR_TYPE = {"python": "RuntimeError", "go": "panic", "node": "aborted"}


def require_toolchain(language: str) -> None:
    """Skip (bare machine) or fail (CI) when the language's stub cannot be run here."""
    if language == "node":
        real_tool("node", "nodejs")
        missing = [p for p in NODE_PACKAGES if not (NODE_MODULES / p / "package.json").is_file()]
        require(not missing, f"the npm packages {', '.join(missing)}", "cd tests/node && npm ci")
    elif language == "go":
        real_tool("go", "golang-go")
        require((DEBIAN_GOPATH / "src" / CLIENT_GOLANG).is_dir(), CLIENT_GOLANG,
                "apt-get install golang-github-prometheus-client-golang-dev")


def stub_path(folder: Path, service: Service, language: str) -> Path:
    return folder / c.OPS_DIR / c.telemetry_path(service.name, language)


def thresholds(service: Service, kind: str) -> list[Fraction]:
    return [s.sli.threshold_seconds for s in service.slos if s.sli.kind == kind]


def dependency_helpers(service: Service, language: str) -> list[list[str]]:
    """[function, call class] of each dependency helper, as the driver calls it."""
    if language == "python":
        return [[h.function, h.call_class] for h in otel_python.dependency_helpers(service)]
    metrics = contract.service_contract(service)
    if language == "node":
        return [[h.function, h.call_class] for h in otel_node.dependency_helpers(metrics)]
    classes = {kind: otel_node.CALL_CLASSES[status] for status, kind in otel_go.CALL_KINDS.items()}
    return [[h.function, classes[h.kind]] for h in otel_go.dependency_helpers(metrics)]


def plan(service: Service, language: str) -> dict:
    kinds = contract.declared_request_kinds(service)
    return {
        "http_requests": [list(r) for r in HTTP_REQUESTS] if "http" in kinds else [],
        "slow_seconds": float(max(thresholds(service, "latency"), default=0)) + 0.05,
        "stale_seconds": float(max(thresholds(service, "freshness"), default=AGE_PROBE_SECONDS)) + 60,
        "grpc": "grpc" in kinds, "queue": "queue-consumer" in kinds,
        "dependencies": dependency_helpers(service, language),
    }


def expected_http(language: str) -> tuple[int, int, int]:
    """(requests, failed, slow) that the driver's http traffic records."""
    total, failed = len(HTTP_REQUESTS), sum(path in FAILING_PATHS for _, path in HTTP_REQUESTS)
    slow = sum(path == "/slow" for _, path in HTTP_REQUESTS)
    if language == "python":
        total, failed = total + ASGI_REQUESTS, failed + 1
    return total, failed, slow


def without_otel_settings(**extra: str) -> dict[str, str]:
    """The environment minus OTEL_* variables (an OTLP endpoint set in CI must not leak in)."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}, **extra}


def node_environment(**extra: str) -> dict[str, str]:
    return without_otel_settings(NODE_PATH=str(NODE_MODULES), **extra)


def go_environment(gopath: Path, gocache: Path) -> dict[str, str]:
    """GOPATH mode against Debian's packages: no module proxy, no go.mod."""
    return {**os.environ, "GO111MODULE": "off", "GOFLAGS": "", "GOPATH": f"{gopath}{os.pathsep}{DEBIAN_GOPATH}",
            "GOCACHE": str(gocache)}


def go_bindings(package: str, service: Service) -> str:
    """bindings.go: the driver's names for what the package under test has (nil where it has none)."""
    metrics = contract.service_contract(service)
    kinds = contract.declared_request_kinds(service)
    scraped, cron = metrics.scraped, bool(metrics.job_gauges)

    def bind(name: str, type_: str, value: str, present: bool) -> str:
        return f"var {name} {type_}" + (f" = {value}" if present else "") + "\n"

    text = ('package main\n\nimport (\n\t"net/http"\n\t"time"\n\n'
            f'\ttelemetry "{GO_IMPORT_ROOT}/{package}"\n)\n\n'
            "var _ = time.Second\nvar _ http.Handler\n\n")
    text += bind("setup", "func() error", "telemetry.Setup", scraped)
    text += bind("middleware", "func(http.Handler) http.Handler", "telemetry.Middleware", "http" in kinds)
    text += bind("setRoute", "func(*http.Request, string)", "telemetry.SetRoute", "http" in kinds)
    text += bind("grpcServerCall", "func(string) call",
                 "func(method string) call { return telemetry.GRPCServerCall(method) }", "grpc" in kinds)
    text += bind("messageProcessing", "func(string, string, time.Time) call",
                 "func(s, d string, at time.Time) call { return telemetry.MessageProcessing(s, d, at) }",
                 "queue-consumer" in kinds)
    text += bind("jobRun", "func(func() error) error", "telemetry.JobRun", cron)
    helpers = otel_go.dependency_helpers(metrics)
    text += "var dependencies = map[string]func() call{\n" + "".join(
        f'\t"{h.function}": func() call {{ return telemetry.{h.function}() }},\n' for h in helpers) + "}\n"
    return text


def build_go_driver(folder: Path, service: Service, work: Path, gocache: Path) -> Path:
    """The driver, built against the service's generated package."""
    package_dir = stub_path(folder, service, "go").parent
    return build_go_program(package_dir, {"driver.go": GO_DRIVER.read_text(),
                                          "bindings.go": go_bindings(package_dir.name, service)}, work, gocache)


def build_go_program(package_dir: Path, main_files: dict[str, str], work: Path, gocache: Path) -> Path:
    """Copy the generated package under a GOPATH of its own (importable as opgen.test/<package>),
    add a main package of `main_files`, `go build` it; the binary's path."""
    gopath = work / "gopath"
    source = gopath / "src" / GO_IMPORT_ROOT
    shutil.copytree(package_dir, source / package_dir.name)
    (source / "main").mkdir(parents=True)
    for name, text in main_files.items():
        (source / "main" / name).write_text(text)
    binary = work / "main"
    # -s -w: no symbol table or debug data, a third less link time, which dominates a warm build
    built = subprocess.run(["go", "build", "-ldflags=-s -w", "-o", str(binary), f"{GO_IMPORT_ROOT}/main"],
                           cwd=source / "main", env=go_environment(gopath, gocache), capture_output=True, text=True,
                           timeout=RUN_TIMEOUT_SECONDS)
    assert built.returncode == 0, built.stdout + built.stderr
    return binary


def vet_go_package(package_dir: Path, work: Path, gocache: Path) -> subprocess.CompletedProcess:
    """`go vet` (which compiles) on a copy of the package under a GOPATH of its own."""
    gopath = work / "gopath"
    shutil.copytree(package_dir, gopath / "src" / GO_IMPORT_ROOT / package_dir.name)
    return subprocess.run(["go", "vet", f"{GO_IMPORT_ROOT}/{package_dir.name}"], cwd=gopath,
                          env=go_environment(gopath, gocache), capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS)


def drive(language: str, folder: Path, service: Service, plan_: dict, work: Path, gocache: Path,
          **env: str) -> subprocess.CompletedProcess:
    """Run the language's driver with the plan against the service's stub; its stdout is the scrape."""
    stub = stub_path(folder, service, language)
    if language == "python":
        args, environment = [sys.executable, str(PYTHON_DRIVER), stub.stem, json.dumps(plan_)], \
            without_otel_settings(PYTHONPATH=str(stub.parent), **env)
    elif language == "node":
        args, environment = ["node", str(NODE_DRIVER), str(stub), json.dumps(plan_)], node_environment(**env)
    else:
        binary = work / "main"
        if not binary.exists():
            binary = build_go_driver(folder, service, work, gocache)
        args, environment = [str(binary), json.dumps(plan_)], without_otel_settings(**env)
    return subprocess.run(args, env=environment, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS)
