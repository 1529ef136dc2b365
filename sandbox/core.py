"""The HTTP framework both sandbox services run on.

A service (Mirakl, Canada Post) only maps requests to handlers and knows its own wire formats
(error shapes, throttling answers, how to corrupt a body). Everything that must behave the same
on both sides lives here: the threaded server, authentication order, fault injection (latency,
5xx, throttling, hang, malformed bodies, commit-then-drop, delayed visibility of what a request
created), documented rate limits, the call log
and the ``/__admin/`` API.

Stdlib only (``http.server``) on purpose: the sandbox must start in well under two seconds, run
many concurrent clients (a thread per connection) and be able to do what real networks do to
clients: close a socket without answering, or never answer at all.
"""

from __future__ import annotations

import contextlib
import email.message
import email.parser
import email.policy
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

ADMIN_PREFIX = "/__admin/"

# A hang must end on its own so that a forgotten server thread cannot live forever; clients give
# up long before this (requests' usual timeouts are 10-30 s).
DEFAULT_HANG_SECONDS = 60.0
DEFAULT_VISIBILITY_DELAY_SECONDS = 5.0

# Bodies bigger than this are refused before being read: the real gateways refuse huge bodies
# too, and an unbounded read is a way to exhaust the sandbox's memory.
MAX_BODY_BYTES = 64 * 1024 * 1024


# --------------------------------------------------------------------------------------------
# Request / response / route
# --------------------------------------------------------------------------------------------


class HTTPError(Exception):
    """Raised by a handler (or by :meth:`Request.json`) to answer with an error.

    With ``response`` that response is sent as is (a service's precise error body). Without it the
    core sends ``service.error_response(status, route)`` (so ``error_response`` must accept any
    4xx/5xx, not only injected 5xx) and puts ``message`` in an ``X-Sandbox-Error`` header.
    """

    def __init__(self, status: int, message: str = "", response: Response | None = None) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.response = response


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]  # parse_qs(keep_blank_values=True)
    headers: Mapping[str, str]  # case-insensitive (an email.message.Message)
    body: bytes
    # Set by the fault layer before the handler runs: what this request creates stays out of searches
    # for this many seconds (FaultSpec.visibility_delay_rate); 0 = visible at once.
    visibility_delay_s: float = 0.0

    def header(self, name: str, default: str | None = None) -> str | None:
        value = self.headers.get(name)
        return default if value is None else value

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter (what most APIs mean by a scalar parameter)."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body parsed as JSON; a clean 400 (in the service's error shape) when it is not."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HTTPError(400, f"request body is not valid JSON: {exc}") from exc

    def multipart(self) -> dict[str, list[MultipartPart]]:
        """The parts of a ``multipart/form-data`` body by name; a clean 400 when it is not one."""
        return parse_multipart(self.header("Content-Type") or "", self.body)


@dataclass
class MultipartPart:
    name: str
    filename: str | None
    content_type: str
    data: bytes

    def text(self) -> str:
        return self.data.decode("utf-8")


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # include Content-Type


@dataclass
class Route:
    endpoint: str  # stable name used for faults, logs and counts, e.g. "OR11", "create_shipment"
    handler: Callable[[Request], Response]
    rate_group: str | None = None  # documented rate-limit group, e.g. "OR11" or Canada Post "A"


class Service(Protocol):
    """What a sandboxed API provides to the core. See module docstring."""

    name: str  # "mirakl" or "canadapost"

    def route(self, req: Request) -> Route | None: ...  # None -> the core answers 404

    def authenticate(self, req: Request, route: Route) -> Response | None: ...  # None = ok, else 401

    def throttled_response(self, route: Route, retry_after: float) -> Response: ...

    def error_response(self, status: int, route: Route) -> Response: ...  # the API's own error shape

    def malformed(self, resp: Response) -> Response: ...  # truncate/corrupt a body

    def snapshot(self) -> dict: ...  # JSON-able full state (for --state persistence)

    def restore(self, data: dict) -> None: ...

    def inspect(self) -> dict: ...  # state summary for the admin API

    def admin(self, req: Request, action: str) -> Response | None: ...  # /__admin/<action>


def json_response(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    return Response(status, body, {"Content-Type": "application/json;charset=UTF-8", **(headers or {})})


def no_content() -> Response:
    return Response(204, b"", {})


def parse_multipart(content_type: str, body: bytes) -> dict[str, list[MultipartPart]]:
    """Parse ``multipart/form-data`` with the stdlib email parser (``cgi`` is deprecated)."""
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        raise HTTPError(400, "expected a multipart/form-data body with a boundary")
    raw = b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    if not message.is_multipart():
        raise HTTPError(400, "malformed multipart/form-data body")
    parts: dict[str, list[MultipartPart]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        parts.setdefault(str(name), []).append(
            MultipartPart(
                name=str(name),
                filename=part.get_filename(),
                content_type=part.get_content_type(),
                data=payload,
            )
        )
    return parts


# --------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------


@dataclass
class FaultSpec:
    """What to do to requests of one endpoint (or ``"*"``, every endpoint).

    Rates are probabilities in [0, 1]. With ``count`` set, the spec applies to exactly the next
    ``count`` requests of that endpoint and every kind with a rate > 0 fires with certainty
    (deterministic tests); the spec then removes itself. Several kinds in one spec: the first of
    hang, drop, error, throttle, malformed that fires wins; latency is always added.
    """

    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_statuses: list[int] = field(default_factory=lambda: [500, 502, 503])
    error_after_commit: bool = False  # run the handler first: a 5xx for an action that happened
    throttle_rate: float = 0.0
    retry_after: float = 1.0
    hang_rate: float = 0.0
    hang_seconds: float = DEFAULT_HANG_SECONDS
    hang_after_commit: bool = False  # run the handler, then never answer
    malformed_rate: float = 0.0
    drop_rate: float = 0.0  # commit-then-drop: run the handler, close without an answer
    visibility_delay_rate: float = 0.0  # what the request creates is invisible to searches ...
    visibility_delay_seconds: float = DEFAULT_VISIBILITY_DELAY_SECONDS  # ... for this long
    count: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known - {"endpoint"}
        if unknown:
            raise ValueError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
        kwargs: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        if isinstance(kwargs.get("error_statuses"), str | int):
            kwargs["error_statuses"] = [int(s) for s in str(kwargs["error_statuses"]).split("|")]
        spec = cls(**kwargs)
        for name in ("error_rate", "throttle_rate", "hang_rate", "malformed_rate", "drop_rate",
                     "visibility_delay_rate"):
            value = float(getattr(spec, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
            setattr(spec, name, value)
        if spec.count is not None and int(spec.count) < 1:
            raise ValueError("count must be >= 1")
        spec.visibility_delay_seconds = float(spec.visibility_delay_seconds)
        if spec.visibility_delay_seconds < 0:
            raise ValueError("visibility_delay_seconds must be >= 0")
        return spec

    @classmethod
    def parse_cli(cls, text: str) -> tuple[str, FaultSpec]:
        """``ENDPOINT:key=value,key=value`` (``error_statuses`` as ``500|503``)."""
        endpoint, sep, options = text.partition(":")
        if not sep or not endpoint:
            raise ValueError(f"fault must look like ENDPOINT:key=value[,key=value]: {text!r}")
        data: dict[str, Any] = {}
        for item in filter(None, options.split(",")):
            key, eq, value = item.partition("=")
            if not eq:
                raise ValueError(f"fault option must be key=value: {item!r}")
            key = key.strip()
            if key in ("error_after_commit", "hang_after_commit"):
                data[key] = value.strip().lower() in ("1", "true", "yes", "on")
            elif key == "error_statuses":
                data[key] = value.strip()
            elif key == "count":
                data[key] = int(value)
            else:
                data[key] = float(value)
        return endpoint, cls.from_dict(data)


@dataclass
class FaultDecision:
    latency_s: float = 0.0
    action: str | None = None  # "hang" | "drop" | "error" | "throttle" | "malformed" | None
    status: int = 0
    retry_after: float = 0.0
    hang_seconds: float = DEFAULT_HANG_SECONDS
    after_commit: bool = False
    visibility_delay_s: float = 0.0  # what the handler creates stays out of searches this long


class FaultConfig:
    """Fault specs per endpoint, changeable at run time from any thread."""

    def __init__(self, specs: Mapping[str, FaultSpec] | None = None, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._specs: dict[str, FaultSpec] = dict(specs or {})
        # Seeded so that a run with rates is reproducible request-for-request when single-threaded.
        self._random = random.Random(seed)

    def set(self, endpoint: str, spec: FaultSpec | Mapping[str, Any]) -> None:
        if not isinstance(spec, FaultSpec):
            spec = FaultSpec.from_dict(spec)
        with self._lock:
            self._specs[endpoint] = spec

    def clear(self, endpoint: str | None = None) -> None:
        with self._lock:
            if endpoint is None:
                self._specs.clear()
            else:
                self._specs.pop(endpoint, None)

    def as_dict(self) -> dict[str, dict]:
        with self._lock:
            return {name: asdict(spec) for name, spec in self._specs.items()}

    def decide(self, endpoint: str) -> FaultDecision:
        decision = FaultDecision()
        with self._lock:
            for key in (endpoint, "*"):
                spec = self._specs.get(key)
                if spec is None:
                    continue
                decision.latency_s += spec.latency_ms / 1000.0
                if decision.action is None:
                    self._pick_action(spec, decision)
                if self._fires(spec.visibility_delay_rate, spec.count is not None):
                    decision.visibility_delay_s = max(decision.visibility_delay_s, spec.visibility_delay_seconds)
                if spec.count is not None:
                    spec.count -= 1
                    if spec.count <= 0:
                        del self._specs[key]
        return decision

    def _fires(self, rate: float, certain: bool) -> bool:
        if rate <= 0:
            return False
        return certain or self._random.random() < rate

    def _pick_action(self, spec: FaultSpec, decision: FaultDecision) -> None:
        certain = spec.count is not None
        if self._fires(spec.hang_rate, certain):
            decision.action = "hang"
            decision.hang_seconds = spec.hang_seconds
            decision.after_commit = spec.hang_after_commit
        elif self._fires(spec.drop_rate, certain):
            decision.action = "drop"
            decision.after_commit = True
        elif self._fires(spec.error_rate, certain):
            decision.action = "error"
            statuses = spec.error_statuses or [500]
            decision.status = int(self._random.choice(statuses))
            decision.after_commit = spec.error_after_commit
        elif self._fires(spec.throttle_rate, certain):
            decision.action = "throttle"
            decision.retry_after = spec.retry_after
        elif self._fires(spec.malformed_rate, certain):
            decision.action = "malformed"
            decision.after_commit = True


# --------------------------------------------------------------------------------------------
# Rate limits
# --------------------------------------------------------------------------------------------


class RateLimiter:
    """Per-group limits in calls per rolling 60 s window; switchable as a whole.

    Keys are a route's ``rate_group`` (e.g. Mirakl ``OR11``, Canada Post throttle group ``A``) or
    ``endpoint:<name>`` for one endpoint alone (e.g. ``endpoint:create_shipment``: "20 creates a
    minute", whatever else group A holds). A call must fit every limit that applies to it; a rejected
    call counts against none of them.
    """

    WINDOW_S = 60.0
    ENDPOINT_PREFIX = "endpoint:"

    def __init__(self, limits: Mapping[str, float] | None = None, enabled: bool = True) -> None:
        self._lock = threading.Lock()
        self.limits: dict[str, float] = dict(limits or {})
        self.enabled = enabled
        self._hits: dict[str, deque[float]] = {}

    def configure(
        self, enabled: bool | None = None, limits: Mapping[str, float | None] | None = None
    ) -> None:
        with self._lock:
            if enabled is not None:
                self.enabled = bool(enabled)
            for group, limit in (limits or {}).items():
                if limit is None:
                    self.limits.pop(group, None)
                else:
                    self.limits[group] = float(limit)
            self._hits.clear()  # a new configuration starts a fresh window

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {"enabled": self.enabled, "limits": dict(self.limits), "window_seconds": self.WINDOW_S}

    def check(self, group: str | None, endpoint: str | None = None) -> float | None:
        """Record a call of ``group`` (and ``endpoint``); None if allowed, else seconds until one would be."""
        keys = [k for k in (group, f"{self.ENDPOINT_PREFIX}{endpoint}" if endpoint else None) if k is not None]
        if not keys:
            return None
        with self._lock:
            if not self.enabled:
                return None
            now = time.monotonic()
            applicable: list[tuple[float, deque[float]]] = []
            for key in keys:
                limit = self.limits.get(key)
                if limit is None:
                    continue
                hits = self._hits.setdefault(key, deque())
                while hits and hits[0] <= now - self.WINDOW_S:
                    hits.popleft()
                applicable.append((limit, hits))
            full = [hits for limit, hits in applicable if len(hits) >= limit]
            if full:
                # Rejected calls do not count against the window (as Mirakl's docs imply: the
                # Retry-After is when the next call will succeed).
                return max(0.0, max((hits[0] + self.WINDOW_S - now for hits in full if hits), default=self.WINDOW_S))
            for _, hits in applicable:
                hits.append(now)
            return None


# --------------------------------------------------------------------------------------------
# Call log
# --------------------------------------------------------------------------------------------


@dataclass
class CallRecord:
    index: int
    method: str
    path: str
    endpoint: str | None
    status: int  # what the client saw; 0 when it saw nothing (dropped or hung)
    duration_ms: float
    ts: float  # epoch seconds at arrival
    outcome: str  # "ok", "dropped", "hung", "throttled", "fault", "error" (4xx/5xx from the handler)
    handler_status: int | None = None  # what the handler answered, when it ran (e.g. before a drop)
    query: str = ""


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256  # many concurrent clients (benchmarks) must not see refused connects


class SandboxServer:
    """One service on one port, with faults, limits, a call log and the admin API."""

    def __init__(
        self,
        service: Service,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultConfig | None = None,
        limits: dict[str, float] | None = None,
        *,
        limits_enabled: bool = True,
        on_mutation: Callable[[], None] | None = None,
        quiet: bool = True,
    ) -> None:
        self.service = service
        self.host = host
        self.port = port
        self.faults = faults or FaultConfig()
        default_limits = getattr(service, "default_limits", None) or {}
        self.limiter = RateLimiter(default_limits if limits is None else limits, enabled=limits_enabled)
        self.calls: list[CallRecord] = []
        self._calls_lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self.on_mutation = on_mutation
        self.quiet = quiet
        self.url = ""

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        handler_cls = type("SandboxHandler", (_Handler,), {"sandbox": self})
        self._httpd = _ThreadingServer((self.host, self.port), handler_cls)
        self.port = self._httpd.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"sandbox-{self.service.name}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()  # wakes hanging handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- call log ------------------------------------------------------------------------------

    def calls_since(self, since: int = 0) -> list[CallRecord]:
        with self._calls_lock:
            return list(self.calls[since:])

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        with self._calls_lock:
            for call in self.calls:
                per = out.setdefault(call.endpoint or "-", {})
                answered = call.outcome in ("ok", "error", "throttled", "fault")
                key = str(call.status) if answered else call.outcome
                per[key] = per.get(key, 0) + 1
        return out

    def reset_calls(self) -> None:
        with self._calls_lock:
            self.calls.clear()

    def _record(self, **kwargs: Any) -> None:
        with self._calls_lock:
            self.calls.append(CallRecord(index=len(self.calls), **kwargs))

    # -- dispatch ------------------------------------------------------------------------------

    def dispatch(self, req: Request) -> tuple[Response | None, dict[str, Any]]:
        """Answer one request; ``None`` means close the connection without an answer."""
        if req.path.startswith(ADMIN_PREFIX):
            return self._admin(req), {"admin": True}

        service = self.service
        route = service.route(req)
        if route is None:
            return _not_found(), {"endpoint": None, "outcome": "error"}
        info: dict[str, Any] = {"endpoint": route.endpoint}

        denied = service.authenticate(req, route)
        if denied is not None:
            info["outcome"] = "error"
            return denied, info

        decision = self.faults.decide(route.endpoint)
        if decision.latency_s > 0 and self._stopping.wait(decision.latency_s):
            info["outcome"] = "dropped"
            return None, info

        retry_after = self.limiter.check(route.rate_group, route.endpoint)
        if retry_after is not None:
            info["outcome"] = "throttled"
            return service.throttled_response(route, retry_after), info

        action = decision.action
        req.visibility_delay_s = decision.visibility_delay_s
        if action == "throttle":
            info["outcome"] = "throttled"
            return service.throttled_response(route, decision.retry_after), info
        if action in ("hang", "error") and not decision.after_commit:
            if action == "hang":
                self._stopping.wait(decision.hang_seconds)
                info["outcome"] = "hung"
                return None, info
            info["outcome"] = "fault"
            return service.error_response(decision.status, route), info

        resp = self._run_handler(req, route)
        info["handler_status"] = resp.status
        if req.method not in ("GET", "HEAD") and self.on_mutation is not None:
            self.on_mutation()

        if action == "drop":
            info["outcome"] = "dropped"
            return None, info
        if action == "hang":
            self._stopping.wait(decision.hang_seconds)
            info["outcome"] = "hung"
            return None, info
        if action == "error":
            info["outcome"] = "fault"
            return service.error_response(decision.status, route), info
        if action == "malformed":
            info["outcome"] = "fault"
            return service.malformed(resp), info
        info["outcome"] = "ok" if resp.status < 400 else "error"
        return resp, info

    def _run_handler(self, req: Request, route: Route) -> Response:
        try:
            return route.handler(req)
        except HTTPError as exc:
            if exc.response is not None:
                return exc.response
            resp = self.service.error_response(exc.status, route)
            if exc.message:
                resp.headers.setdefault("X-Sandbox-Error", _header_safe(exc.message))
            return resp
        except Exception:
            # A bug in the sandbox must look like a server error to the client, not hang it.
            traceback.print_exc(file=sys.stderr)
            return self.service.error_response(500, route)

    # -- admin API -----------------------------------------------------------------------------

    def _admin(self, req: Request) -> Response:
        action = req.path[len(ADMIN_PREFIX) :].strip("/")
        try:
            return self._admin_action(req, action)
        except HTTPError as exc:
            return exc.response or json_response(exc.status, {"error": exc.message})
        except (ValueError, TypeError, KeyError) as exc:
            return json_response(400, {"error": str(exc)})

    def _admin_action(self, req: Request, action: str) -> Response:
        method = req.method
        if action == "calls" and method == "GET":
            since = int(req.param("since", "0") or 0)
            calls = self.calls_since(since)
            return json_response(200, {"calls": [asdict(c) for c in calls], "next": since + len(calls)})
        if action == "counts" and method == "GET":
            return json_response(200, self.counts())
        if action == "state" and method == "GET":
            return json_response(200, self.service.inspect())
        if action == "reset" and method == "POST":
            self.reset_calls()
            return json_response(200, {"reset": True})
        if action == "faults":
            if method == "GET":
                return json_response(200, self.faults.as_dict())
            if method == "DELETE":
                self.faults.clear(req.param("endpoint"))
                return json_response(200, self.faults.as_dict())
            if method == "POST":
                payload = req.json()
                items: Iterable[Mapping[str, Any]]
                if isinstance(payload, list):
                    items = payload
                elif isinstance(payload, dict) and isinstance(payload.get("faults"), dict):
                    items = [{"endpoint": name, **spec} for name, spec in payload["faults"].items()]
                elif isinstance(payload, dict):
                    items = [payload]
                else:
                    raise ValueError("expected a fault object, a list of them, or {'faults': {...}}")
                for item in items:
                    endpoint = item.get("endpoint")
                    if not endpoint:
                        raise ValueError("a fault needs an 'endpoint' (an endpoint name or '*')")
                    self.faults.set(str(endpoint), FaultSpec.from_dict(item))
                return json_response(200, self.faults.as_dict())
        if action == "limits":
            if method == "GET":
                return json_response(200, self.limiter.as_dict())
            if method == "POST":
                payload = req.json() or {}
                self.limiter.configure(payload.get("enabled"), payload.get("limits"))
                return json_response(200, self.limiter.as_dict())
        resp = self.service.admin(req, action)
        if resp is None:
            return json_response(404, {"error": f"no admin action {method} {action!r}"})
        if method != "GET" and self.on_mutation is not None:
            self.on_mutation()
        return resp


def _not_found() -> Response:
    return json_response(404, {"message": "Not Found", "status": 404})


def _header_safe(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii").replace("\r", " ").replace("\n", " ")[:500]


class _Handler(BaseHTTPRequestHandler):
    sandbox: SandboxServer  # set on the per-server subclass
    protocol_version = "HTTP/1.1"  # keep-alive, like the real gateways; every answer has a length
    server_version = "orderflow-sandbox"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        if not self.sandbox.quiet:
            super().log_message(format, *args)

    def _serve(self) -> None:
        started = time.monotonic()
        ts = time.time()
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length > 0 else b""
        req = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
        )
        try:
            resp, info = self.sandbox.dispatch(req)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            resp, info = json_response(500, {"message": "sandbox internal error", "status": 500}), {}
        if info.get("admin"):
            self._write(resp, head=self.command == "HEAD")
            return
        # Recorded before the answer goes out: a client that got its answer finds its call in the log
        # (recording after the write raced with a client reading the log right after its call).
        self.sandbox._record(
            method=req.method,
            path=req.path,
            endpoint=info.get("endpoint"),
            status=0 if resp is None else resp.status,
            duration_ms=round((time.monotonic() - started) * 1000.0, 3),
            ts=ts,
            outcome=info.get("outcome", "ok"),
            handler_status=info.get("handler_status"),
            query=split.query,
        )
        if resp is None:
            self._drop()
        else:
            with contextlib.suppress(OSError):
                self._write(resp, head=self.command == "HEAD")

    def _write(self, resp: Response | None, head: bool = False) -> None:
        assert resp is not None
        self.send_response(resp.status)
        headers = dict(resp.headers)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if resp.body and not head:
            self.wfile.write(resp.body)
        self.wfile.flush()

    def _drop(self) -> None:
        """Close the socket without a byte of answer, as a crashed gateway or a cut link does."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


# --------------------------------------------------------------------------------------------
# Persistence
# --------------------------------------------------------------------------------------------


class StatePersister:
    """Keeps ``{service name: snapshot}`` in a JSON file, written atomically.

    Mutations only mark the state dirty; a background thread writes at most every
    ``interval`` seconds, and :meth:`close` writes a final time. Snapshotting on every call would
    make the sandbox quadratic under a benchmark's thousands of orders.
    """

    def __init__(
        self, path: str | os.PathLike[str], services: Iterable[Service], interval: float = 0.5
    ) -> None:
        self.path = Path(path)
        self.services = list(services)
        self.interval = interval
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def load(self) -> bool:
        """Restore every service found in the file; False when there is no file yet."""
        if not self.path.exists():
            return False
        data = json.loads(self.path.read_text(encoding="utf-8"))
        for service in self.services:
            if service.name in data:
                service.restore(data[service.name])
        return True

    def mark_dirty(self) -> None:
        self._dirty.set()

    def save(self) -> None:
        with self._write_lock:
            self._dirty.clear()
            data = {service.name: service.snapshot() for service in self.services}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(data, fh, ensure_ascii=False)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sandbox-state", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._dirty.wait(timeout=self.interval):
                try:
                    self.save()
                except Exception:
                    traceback.print_exc(file=sys.stderr)
                self._stop.wait(self.interval)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.save()


def email_headers(pairs: Mapping[str, str]) -> email.message.Message:
    """A case-insensitive header mapping like the one the server hands to handlers (for tests)."""
    message = email.message.Message()
    for name, value in pairs.items():
        message[name] = value
    return message
