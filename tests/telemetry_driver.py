"""Play a service that uses its generated telemetry module, then print what Prometheus would scrape.

Run by test_instrumentation.py in a fresh interpreter (the module installs global OTel state):
    python telemetry_driver.py MODULE PLAN_JSON
with the module's folder on PYTHONPATH and OPGEN_METRICS_PORT set. PLAN_JSON says what to
exercise: {"http_requests": [[method, path], ...], "slow_seconds": float, "grpc": bool,
"queue": bool, "stale_seconds": float, "dependencies": [[function, call_class], ...]}; the app
answers each path as wsgi_app says. tests/node/driver.js and tests/go/driver.go play the same plan
against the Node.js and Go stubs.

Or one run of a cron job, which pushes to the Pushgateway at OPGEN_PUSHGATEWAY_URL and prints
nothing: {"job_run": "success"} (the decorator form) or "failure" (the context manager, raising).
"""

from __future__ import annotations

import asyncio
import datetime
import importlib
import json
import os
import sys
import time
import urllib.request
from wsgiref.util import setup_testing_defaults


class Unavailable(Exception):
    """What grpc.RpcError looks like to the helpers: code() returns a status with a name."""

    def code(self):
        return type("StatusCode", (), {"name": "UNAVAILABLE"})()


def wsgi_app(slow_seconds: float):
    """The app every driver plays: / and /orders/<id> (route /orders/{id}) answer 200, /missing 404,
    /fail 503, /slow 200 after slow_seconds; /boom fails before answering."""

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/boom":
            raise RuntimeError("the handler failed before answering")
        if path == "/slow":
            time.sleep(slow_seconds)
        if path.startswith("/orders/"):
            environ["opgen.route"] = "/orders/{id}"
        status = {"/fail": "503 Service Unavailable", "/missing": "404 Not Found"}.get(path, "200 OK")
        start_response(status, [("Content-Type", "text/plain")])
        return [b"ok"]

    return app


def wsgi_request(app, path: str, method: str = "GET") -> None:
    environ = {"PATH_INFO": path, "REQUEST_METHOD": method}
    setup_testing_defaults(environ)
    body = app(environ, lambda status, headers, exc_info=None: None)
    try:
        b"".join(body)
    except RuntimeError:
        pass
    finally:
        body.close()


async def asgi_request(app, path: str) -> None:
    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        pass

    try:
        await app({"type": "http", "method": "POST", "path": path}, receive, send)
    except RuntimeError:
        pass


async def asgi_app(scope, receive, send):
    if scope["path"] == "/boom":
        raise RuntimeError("the handler failed before answering")
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def failing(helper, error: Exception) -> None:
    try:
        with helper():
            raise error
    except type(error):
        pass
    else:
        raise AssertionError(f"{helper.__name__} swallowed {error!r}")


class JobFailed(Exception):
    pass


def job_run(telemetry, outcome: str) -> None:
    """One run; a failed run must re-raise the job's own exception, whatever the push did."""
    if outcome == "success":
        @telemetry.job_run()
        def run() -> str:
            return "done"

        assert run() == "done"
        return
    try:
        with telemetry.job_run():
            raise JobFailed("the report query timed out")
    except JobFailed:
        return
    raise AssertionError("job_run swallowed the job's exception")


def main(module_name: str, plan: dict) -> None:
    telemetry = importlib.import_module(module_name)
    if "job_run" in plan:
        job_run(telemetry, plan["job_run"])
        return
    telemetry.setup()
    telemetry.setup()  # idempotent: a second call must not start a second server

    if plan["http_requests"]:
        app = telemetry.WSGIMiddleware(wsgi_app(plan["slow_seconds"]))
        for method, path in plan["http_requests"]:
            wsgi_request(app, path, method)
        asgi = telemetry.ASGIMiddleware(asgi_app)  # and two more requests, through the ASGI middleware
        asyncio.run(asgi_request(asgi, "/"))
        asyncio.run(asgi_request(asgi, "/boom"))

    if plan["grpc"]:
        with telemetry.grpc_server_call("shop.Inventory/Get"):
            pass
        failing(lambda: telemetry.grpc_server_call("shop.Inventory/Get"), Unavailable())

    if plan["queue"]:
        now = time.time()
        with telemetry.message_processing("kafka", "jobs", enqueued_at=now):
            pass
        failing(lambda: telemetry.message_processing("kafka", "jobs", enqueued_at=now), TimeoutError())
        stale = datetime.datetime.fromtimestamp(now - plan["stale_seconds"], tz=datetime.timezone.utc)
        with telemetry.message_processing("kafka", "jobs", enqueued_at=stale):
            pass
        with telemetry.message_processing("kafka", "jobs", enqueued_at=now + 60):  # the producer's clock is ahead
            pass
        with telemetry.message_processing("kafka", "jobs"):  # no enqueue time: no age
            pass

    for function, call_class in plan["dependencies"]:
        helper = getattr(telemetry, function)
        with helper() as call:
            if call_class == "HTTPCall":
                call.status_code = 200
        if call_class == "HTTPCall":
            with helper() as call:
                call.status_code = 503
        failing(helper, Unavailable() if call_class == "GRPCCall" else ConnectionError())

    port = os.environ["OPGEN_METRICS_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        sys.stdout.write(response.read().decode())


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))
