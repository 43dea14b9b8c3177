"""Shared helpers: run the real `opgen` CLI and the real promtool."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from opgen import conventions as c

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TEST_DESCRIPTORS = Path(__file__).parent / "descriptors"

# A cron job whose time-based SLIs hand-written promtool tests follow minute by minute (a 1h
# on-time threshold keeps those tests short). Not in descriptors/, which every kit test runs.
LEDGER_EXPORT_JOB = """apiVersion: opgen/v1
kind: Service
metadata: {name: ledger-export, team: finance}
spec:
  interfaces: [{kind: cron}]
  slos:
    - {name: runs-succeed, objective: 99, sli: {kind: job-success}}
    - {name: on-time, objective: 99, sli: {kind: job-on-time, threshold: 1h}}
"""


def recorded_objectives(rules: list[dict]) -> dict[str, str]:
    """slo -> its objective as written, from the service's one `slo:objective:ratio` rule
    (`label_replace(vector(0.999), "slo", "availability", "", "") or ...`)."""
    import re

    return {slo: value for rule in rules if rule.get("record") == c.OBJECTIVE
            for value, slo in re.findall(r'label_replace\(vector\(([^)]*)\), "slo", "([^"]*)", "", ""\)', rule["expr"])}


def run_opgen(*args: str, cwd: Path, input: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opgen", *args], cwd=cwd, capture_output=True, text=True, input=input,
                          env=env)


# .ci/run sets this: there a missing tool is a failure (CI must install what the tests run), while
# plain `pytest` on a bare machine skips the tests that need it, with the reason.
REQUIRE_TOOLS = os.environ.get("OPGEN_REQUIRE_TOOLS") == "1"


def require(available: bool, what: str, install: str) -> None:
    """Skip (bare machine) or fail (CI) when `what` is missing; `install` says how to get it."""
    if available:
        return
    message = f"{what} is not installed: {install} (or run `bash .ci/run`, which installs it)"
    if REQUIRE_TOOLS:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def real_tool(command: str, package: str) -> str:
    """The path of a real tool the tests run: skipped where it is missing, failed under CI."""
    path = shutil.which(command)
    require(path is not None, command, f"apt-get install {package}")
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return real_tool("promtool", "prometheus")


@pytest.fixture(scope="session")
def amtool() -> str:
    return real_tool("amtool", "prometheus-alertmanager")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """The Prometheus server (Debian's prometheus package, which also has promtool)."""
    return real_tool("prometheus", "prometheus")


@pytest.fixture(scope="session")
def go_cache(tmp_path_factory) -> Path:
    """One Go build cache for the session: client_golang compiles once (about 20 s), every stub
    after it in about a second."""
    return tmp_path_factory.mktemp("go-build-cache")


def service_folder(tmp_path: Path, descriptor: Path) -> Path:
    """A copy of `descriptor` as tmp_path/<stem>/service.yaml."""
    folder = tmp_path / descriptor.stem
    folder.mkdir()
    shutil.copy(descriptor, folder / "service.yaml")
    return folder


def is_stat_cache(path: Path) -> bool:
    """sync's stat cache (ops/.opgen/stat-cache.json): per machine, it holds inodes and times, so
    trees compared byte for byte leave it out."""
    return path.as_posix().endswith("/" + c.STAT_CACHE_PATH)
