"""A Prometheus HTTP API client on the standard library: timeouts, retries, and credentials read
from files or the environment, never from the command line (where `ps` and shell history show them).

It speaks the API Prometheus, Thanos, Mimir and Cortex share (/api/v1/query, /api/v1/query_range,
/api/v1/rules); a URL may carry a path prefix (https://mimir.example.com/prometheus). Queries are
POSTed as forms, so long expanded expressions never meet a URL length limit, and carry `timeout`
so the server gives up when we do.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Mapping

from opgen import __version__

BEARER_TOKEN = "OPGEN_PROMETHEUS_BEARER_TOKEN"
USERNAME = "OPGEN_PROMETHEUS_USERNAME"
PASSWORD = "OPGEN_PROMETHEUS_PASSWORD"
HEADERS = "OPGEN_PROMETHEUS_HEADERS"  # one "Name: value" per line, e.g. X-Scope-OrgID: shop (Mimir's tenant)
FILE_SUFFIX = "_FILE"  # BEARER_TOKEN_FILE, PASSWORD_FILE, HEADERS_FILE: read the value from that file
DEFAULT_TIMEOUT_SECONDS = 30.0
ATTEMPTS = 3  # a refused connection, a timeout, a 429 or a 5xx is tried again, after 0.5 s then 1 s
RETRY_PAUSE_SECONDS = 0.5
RETRIED_STATUSES = (429, 500, 502, 503, 504)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class SettingsError(ValueError):
    """The URL or the credentials' settings are wrong: bad input (exit 2)."""


class PrometheusError(Exception):
    """Prometheus could not be reached, or did not answer the question (exit 4: cannot tell)."""


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: tuple[tuple[float, float], ...]  # (unix seconds, value)


@dataclass
class Prometheus:
    url: str  # without a trailing slash
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    attempts: int = ATTEMPTS

    @classmethod
    def from_environment(cls, url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS,
                         environ: Mapping[str, str] | None = None) -> Prometheus:
        """A client of `url` with the credentials and headers the OPGEN_PROMETHEUS_* variables name."""
        return cls(checked_url(url), request_headers(os.environ if environ is None else environ), timeout)

    def query(self, expr: str, at: float) -> list[Sample]:
        """An instant query: the vector (or scalar, as one unlabelled sample) `expr` gives at `at`."""
        data = self._call("/api/v1/query", {"query": expr, "time": _number(at)}, expr)
        with _answer("/api/v1/query"):
            if data["resultType"] == "scalar":
                return [Sample({}, float(data["result"][1]))]
            if data["resultType"] != "vector":
                raise PrometheusError(f"expected a vector from {_short(expr)}, got a {data['resultType']}")
            return [Sample(item["metric"], float(item["value"][1])) for item in data["result"]]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        data = self._call("/api/v1/query_range",
                          {"query": expr, "start": _number(start), "end": _number(end), "step": _number(step)}, expr)
        with _answer("/api/v1/query_range"):
            return [Series(item["metric"], tuple((float(t), float(v)) for t, v in item["values"])) for item in data["result"]]

    def rule_groups(self) -> list[dict]:
        """Every rule group the server has loaded, as /api/v1/rules lists them (with `file`)."""
        data = self._call("/api/v1/rules", None)
        with _answer("/api/v1/rules"):
            groups = data["groups"]
            if not all("name" in group and "rules" in group for group in groups):
                raise KeyError("a group without name or rules")
            return groups

    def _call(self, path: str, form: dict[str, str] | None, expr: str | None = None):
        body = None
        if form is not None:
            form = {**form, "timeout": f"{max(1, math.ceil(self.timeout))}s"}
            body = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(self.url + path, data=body, method="POST" if body else "GET", headers={
            "Accept": "application/json", "User-Agent": f"opgen/{__version__}", **self.headers,
            **({"Content-Type": "application/x-www-form-urlencoded"} if body else {}),
        })
        problem = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(RETRY_PAUSE_SECONDS * 2 ** (attempt - 1))
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    answer = json.load(response)
            except urllib.error.HTTPError as error:
                detail = _api_error(error)
                if error.code in RETRIED_STATUSES:
                    problem = f"answered {error.code} {detail}".rstrip()
                    continue
                if error.code in (401, 403):
                    raise PrometheusError(f"{self.url} answered {error.code} {detail}: check the credentials "
                                          f"({BEARER_TOKEN}{FILE_SUFFIX}, {USERNAME} and {PASSWORD}{FILE_SUFFIX}, {HEADERS})") from None
                what = f" to {_short(expr)}" if expr else f" to {path}"
                raise PrometheusError(f"{self.url} answered {error.code}{what}: {detail}") from None
            except (socket.timeout, TimeoutError):
                problem = f"did not answer within {self.timeout:g}s (--timeout)"
                continue
            except (urllib.error.URLError, ConnectionError, HTTPException, OSError) as error:
                reason = getattr(error, "reason", error)
                timed_out = isinstance(reason, (socket.timeout, TimeoutError))
                problem = f"did not answer within {self.timeout:g}s (--timeout)" if timed_out else f"cannot be reached: {reason}"
                continue
            except ValueError:
                raise PrometheusError(f"{self.url}{path} did not answer with JSON: is it a Prometheus API?") from None
            if not isinstance(answer, dict) or answer.get("status") != "success":
                raise PrometheusError(f"{self.url}{path} answered {answer.get('error') if isinstance(answer, dict) else answer!r}")
            return answer["data"]
        attempts = f" ({self.attempts} attempts)" if self.attempts > 1 else ""
        raise PrometheusError(f"Prometheus at {self.url} {problem}{attempts}")


class _answer:
    """An answer of another shape than the Prometheus API's is Prometheus' problem, not a traceback."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if isinstance(error, (KeyError, IndexError, TypeError, ValueError)):
            raise PrometheusError(f"{self.path} answered in an unexpected shape ({type(error).__name__}: {error}): "
                                  "is it a Prometheus API?") from None
        return False


def checked_url(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SettingsError(f"--prometheus {url!r} is not an http(s) URL like http://prometheus:9090")
    if parsed.username is not None or parsed.password is not None:
        raise SettingsError(f"--prometheus must not carry credentials (the command line is visible to others); "
                            f"set {USERNAME} and {PASSWORD}{FILE_SUFFIX} instead")
    if parsed.query or parsed.fragment:
        raise SettingsError(f"--prometheus {url!r} must not have a query or fragment: give the API's base URL")
    return url.rstrip("/")


def request_headers(environ: Mapping[str, str]) -> dict[str, str]:
    """Authorization and custom headers from the environment, or from the files it names."""
    headers: dict[str, str] = {}
    text = _setting(environ, HEADERS)
    if text:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, colon, value = line.partition(":")
            if not colon or not _HEADER_NAME.fullmatch(name.strip()):
                raise SettingsError(f"{HEADERS}: line {number} is not 'Name: value'")
            headers[name.strip()] = value.strip()
    token = _setting(environ, BEARER_TOKEN)
    username = environ.get(USERNAME)
    if token and username:
        raise SettingsError(f"set either {BEARER_TOKEN} or {USERNAME}, not both")
    if token:
        headers["Authorization"] = f"Bearer {token.strip()}"
    elif username:
        password = _setting(environ, PASSWORD)
        if password is None:
            raise SettingsError(f"{USERNAME} is set but neither {PASSWORD} nor {PASSWORD}{FILE_SUFFIX} is")
        pair = f"{username}:{password.rstrip(chr(10)).rstrip(chr(13))}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    return headers


def _setting(environ: Mapping[str, str], name: str) -> str | None:
    """VARIABLE, or the content of the file VARIABLE_FILE names; setting both is a mistake."""
    value, path = environ.get(name), environ.get(name + FILE_SUFFIX)
    if value is not None and path is not None:
        raise SettingsError(f"set either {name} or {name}{FILE_SUFFIX}, not both")
    if path is None:
        return value
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"cannot read {name}{FILE_SUFFIX} ({path}): {getattr(error, 'strerror', None) or error}") from None


def _api_error(error: urllib.error.HTTPError) -> str:
    try:
        body = error.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    try:
        answer = json.loads(body)
        return f"({answer.get('errorType', 'error')}: {answer.get('error', '')})"
    except ValueError:
        return " ".join(body.split())[:200]


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _short(expr: str | None, limit: int = 160) -> str:
    text = " ".join((expr or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
