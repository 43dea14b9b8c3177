"""How the live commands talk to a Prometheus API: credentials from files or the environment (never
the command line), retries, timeouts, and clear messages with the right exit codes when the
server cannot answer. A real HTTP server on a free loopback port plays the API and records what
it was sent."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from conftest import run_opgen

DESCRIPTOR = """\
apiVersion: opgen/v1
kind: Service
metadata: {name: api, team: web}
spec:
  interfaces: [{kind: http}]
  slos:
    - {name: availability, objective: 99.9, window: 7d, sli: {kind: availability}}
"""
EMPTY_VECTOR = {"status": "success", "data": {"resultType": "vector", "result": []}}
EMPTY_MATRIX = {"status": "success", "data": {"resultType": "matrix", "result": []}}


class FakeAPI:
    """Answers every query with no data, after failing the first `failures` requests with 503."""

    def __init__(self, failures: int = 0, hang: bool = False) -> None:
        self.failures, self.hang = failures, hang
        self.requests: list[dict] = []
        self.release = threading.Event()

    def handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode())
                api.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "form": form})
                if api.hang:
                    api.release.wait(10)
                    return
                if len(api.requests) <= api.failures:
                    self.answer(503, {"status": "error", "errorType": "unavailable", "error": "overloaded"})
                    return
                self.answer(200, EMPTY_MATRIX if self.path.endswith("query_range") else EMPTY_VECTOR)

            do_GET = do_POST

            def answer(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler


@contextmanager
def serving(api: FakeAPI):
    server = ThreadingHTTPServer(("127.0.0.1", 0), api.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        api.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def service(tmp_path) -> Path:
    folder = tmp_path / "api"
    folder.mkdir()
    (folder / "service.yaml").write_text(DESCRIPTOR)
    return folder


def opgen(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OPGEN_PROMETHEUS_")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "opgen", *args], cwd=cwd, capture_output=True, text=True,
                          env=environment, timeout=60)


def test_bearer_token_and_headers_come_from_files(service, tmp_path):
    token, headers = tmp_path / "token", tmp_path / "headers"
    token.write_text("s3cret-token\n")
    headers.write_text("# Mimir's tenant\nX-Scope-OrgID: shop\n")
    api = FakeAPI()
    with serving(api) as url:
        result = opgen("report", "--prometheus", url, "--at", "1750000000", str(service), cwd=tmp_path,
                       env={"OPGEN_PROMETHEUS_BEARER_TOKEN_FILE": str(token), "OPGEN_PROMETHEUS_HEADERS_FILE": str(headers)})
    assert result.returncode == 0, result.stderr
    assert api.requests and all(r["headers"]["authorization"] == "Bearer s3cret-token" for r in api.requests)
    assert all(r["headers"]["x-scope-orgid"] == "shop" for r in api.requests)
    assert "s3cret" not in result.stdout + result.stderr


def test_basic_auth_comes_from_the_environment(service, tmp_path):
    api = FakeAPI()
    with serving(api) as url:
        result = opgen("report", "--prometheus", url, "--at", "1750000000", str(service), cwd=tmp_path,
                       env={"OPGEN_PROMETHEUS_USERNAME": "reader", "OPGEN_PROMETHEUS_PASSWORD": "pa:ss"})
    assert result.returncode == 0, result.stderr
    expected = "Basic " + base64.b64encode(b"reader:pa:ss").decode()
    assert all(r["headers"]["authorization"] == expected for r in api.requests)


def test_queries_are_posted_with_a_server_timeout(service, tmp_path):
    api = FakeAPI()
    with serving(api) as url:
        result = opgen("report", "--prometheus", url + "/prometheus/", "--at", "2025-06-01T00:00:00Z", "--timeout", "7",
                       str(service), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert {r["path"] for r in api.requests} == {"/prometheus/api/v1/query", "/prometheus/api/v1/query_range"}
    assert all(r["form"]["timeout"] == ["7s"] for r in api.requests)
    assert any(r["form"].get("time") == ["1748736000"] for r in api.requests)


def test_a_server_that_fails_twice_is_asked_again(service, tmp_path):
    api = FakeAPI(failures=2)
    with serving(api) as url:
        result = opgen("report", "--prometheus", url, "--at", "1750000000", "--format", "json", str(service), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["services"][0]["slos"][0]["status"] == "no-data"


def test_a_server_that_keeps_failing_is_a_clear_message_and_exit_4(service, tmp_path):
    api = FakeAPI(failures=1000)
    with serving(api) as url:
        result = opgen("gate", "--prometheus", url, str(service), cwd=tmp_path)
    assert result.returncode == 4
    assert "answered 503" in result.stderr and "cannot decide" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_server_that_does_not_answer_times_out(service, tmp_path):
    api = FakeAPI(hang=True)
    with serving(api) as url:
        result = opgen("report", "--prometheus", url, "--timeout", "0.5", str(service), cwd=tmp_path)
    assert result.returncode == 4
    assert "did not answer within 0.5s" in result.stderr and "Traceback" not in result.stderr
    assert len(api.requests) == 3  # tried three times


def test_an_answer_of_another_shape_is_a_clear_message(service, tmp_path):
    api = FakeAPI()  # answers /api/v1/rules with a query's result
    with serving(api) as url:
        result = opgen("audit", "--prometheus", url, str(service), cwd=tmp_path)
    assert result.returncode == 4
    assert "/api/v1/rules answered in an unexpected shape" in result.stderr and "Traceback" not in result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("command", ["report", "gate", "audit"])
def test_an_unreachable_prometheus_is_a_clear_message(service, tmp_path, command):
    result = opgen(command, "--prometheus", f"http://127.0.0.1:{free_port()}", str(service), cwd=tmp_path)
    assert result.returncode == 4, result.stderr
    assert "cannot be reached" in result.stderr and "Traceback" not in result.stderr


def test_backtest_against_an_unreachable_prometheus_exits_4(service, tmp_path):
    result = opgen("backtest", "--prometheus", f"http://127.0.0.1:{free_port()}", "--since", "1h", str(service), cwd=tmp_path)
    assert result.returncode == 4 and "cannot be reached" in result.stderr and "Traceback" not in result.stderr


def test_gate_json_says_undecided_when_prometheus_cannot_answer(service, tmp_path):
    result = opgen("gate", "--prometheus", f"http://127.0.0.1:{free_port()}", "--format", "json", str(service), cwd=tmp_path)
    assert result.returncode == 4
    answer = json.loads(result.stdout)
    assert answer["decision"] == "undecided" and answer["exit_code"] == 4 and "cannot be reached" in answer["error"]


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--prometheus", "http://reader:secret@127.0.0.1:9090"], {}, "must not carry credentials"),
    (["--prometheus", "ftp://127.0.0.1"], {}, "is not an http(s) URL"),
    (["--prometheus", "http://127.0.0.1:9", "--at", "yesterday"], {}, "--at 'yesterday' is not a time"),
    (["--prometheus", "http://127.0.0.1:9", "--at", "2025-06-01T00:00:00"], {}, "has no time zone"),
    (["--prometheus", "http://127.0.0.1:9"], {"OPGEN_PROMETHEUS_BEARER_TOKEN_FILE": "/nonexistent/token"},
     "cannot read OPGEN_PROMETHEUS_BEARER_TOKEN_FILE"),
    (["--prometheus", "http://127.0.0.1:9"], {"OPGEN_PROMETHEUS_USERNAME": "reader"}, "neither OPGEN_PROMETHEUS_PASSWORD"),
    (["--prometheus", "http://127.0.0.1:9"], {"OPGEN_PROMETHEUS_HEADERS": "no colon here"}, "is not 'Name: value'"),
    (["--prometheus", "http://127.0.0.1:9"], {"OPGEN_PROMETHEUS_BEARER_TOKEN": "a", "OPGEN_PROMETHEUS_USERNAME": "b"},
     "not both"),
])
def test_bad_settings_are_bad_input(service, tmp_path, args, env, message):
    result = opgen("gate", *args, str(service), cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["--since", "a week"], ["--since", "7d", "--until", "soon"], ["--since", "7d", "--eval-interval", "0s"]])
def test_backtest_bad_times_are_bad_input(service, tmp_path, args):
    result = opgen("backtest", "--prometheus", "http://127.0.0.1:9", *args, str(service), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr


def test_an_invalid_descriptor_is_bad_input(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "service.yaml").write_text(DESCRIPTOR.replace("objective: 99.9", "objective: 120"))
    result = run_opgen("gate", "--prometheus", "http://127.0.0.1:9", "bad", cwd=tmp_path)
    assert result.returncode == 2
    assert "bad/service.yaml:7:39: spec.slos[0].objective is 120" in result.stderr
