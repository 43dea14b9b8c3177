"""A tiny HTTP service instrumented with its generated telemetry module, for test_e2e_prometheus.py.

    python e2e_app.py MODULE
with the generated module's folder on PYTHONPATH and OPGEN_METRICS_PORT set. setup() serves
/metrics on that port; the app itself listens on a free loopback port and prints it as
"listening <port>" once both are up. GET /fail answers 503, any other path 200. It runs until
it is terminated.
"""

from __future__ import annotations

import importlib
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

STATUSES = {"/fail": "503 Service Unavailable"}


def app(environ, start_response):
    start_response(STATUSES.get(environ["PATH_INFO"], "200 OK"), [("Content-Type", "text/plain")])
    return [b"ok\n"]


class QuietHandler(WSGIRequestHandler):
    """No access log: the test sends thousands of requests."""

    def log_message(self, format, *args) -> None:
        pass


def main(module_name: str) -> None:
    telemetry = importlib.import_module(module_name)
    telemetry.setup()
    server = make_server("127.0.0.1", 0, telemetry.WSGIMiddleware(app), handler_class=QuietHandler)
    print(f"listening {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
