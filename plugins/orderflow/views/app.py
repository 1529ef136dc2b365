"""The staff pages' FastAPI app, mounted by the plugin at ``/orderflow`` inside Airflow's api-server.

``app`` is a small ASGI shim that builds the real FastAPI app on its first request: every Airflow
process imports plugins (scheduler, workers, dag-processor), and only the api-server ever serves
a page, so the others should not pay for building routes and templates.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from orderflow.views.resources import (
    CUSTOMER_SERVICE,
    END_OF_DAY,
    PACKING_STATION,
    REFUNDS,
    RETURNS,
    SELLER_CANCELATION,
)

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import Message, Receive, Scope, Send

# Largest request body the pages accept: a reply or a batch of 200 scans is a few kB. Bigger is refused
# with 413 before anything reads it (a TLS proxy in front should cap bodies too: docs/production-docker.md).
MAX_BODY_BYTES = 256 * 1024

# Static files served by name only (never a path from the request).
STATIC_FILES: dict[str, str] = {
    "orderflow.css": "text/css; charset=utf-8",
    "packing.js": "text/javascript; charset=utf-8",
    "inbox.js": "text/javascript; charset=utf-8",
}


def create_app() -> FastAPI:
    """Build the FastAPI app (routes, error pages, static files)."""
    from fastapi import Depends, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

    from orderflow.views import aftersale, close_day, inbox, packing, returns
    from orderflow.views.common import STATIC_DIR, render
    from orderflow.views.security import CsrfRejected, Forbidden, LoginRequired, login_url, require_any

    fastapi_app = FastAPI(title="orderflow staff pages", docs_url=None, redoc_url=None, openapi_url=None)
    fastapi_app.include_router(packing.router)
    fastapi_app.include_router(inbox.router)
    fastapi_app.include_router(aftersale.router)
    fastapi_app.include_router(close_day.router)
    fastapi_app.include_router(returns.router)

    def wants_json(request: Request) -> bool:
        if "application/json" in request.headers.get("accept", ""):
            return True
        return request.method != "GET" and request.headers.get("content-type", "").startswith("application/json")

    @fastapi_app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        url = login_url(request)
        if wants_json(request):
            # fetch() would follow a redirect to an HTML login page; tell the script instead.
            return JSONResponse({"error": "Your session has ended: log in again.", "login_url": url},
                                status_code=401)
        return RedirectResponse(url, status_code=303)

    @fastapi_app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        if wants_json(request):
            return JSONResponse({"error": exc.message}, status_code=403)
        return render(request, "error.html", {"title": "No access", "message": exc.message}, status_code=403)

    @fastapi_app.exception_handler(CsrfRejected)
    async def _csrf(request: Request, exc: CsrfRejected) -> Response:
        message = "This form has expired or did not come from this page. Reload the page and try again."
        if wants_json(request):
            return JSONResponse({"error": message}, status_code=403)
        return render(request, "error.html", {"title": "Request refused", "message": message}, status_code=403)

    @fastapi_app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        # Bad input gets a clear error; the details name fields, never echo values into HTML.
        fields = sorted({".".join(str(p) for p in e.get("loc", ())[1:]) or "request" for e in exc.errors()})
        message = "Invalid input: " + ", ".join(fields)
        if wants_json(request):
            return JSONResponse({"error": message}, status_code=422)
        return render(request, "error.html", {"title": "Invalid input", "message": message}, status_code=422)

    static_user = Depends(require_any(PACKING_STATION, CUSTOMER_SERVICE, RETURNS, REFUNDS, SELLER_CANCELATION,
                                      END_OF_DAY))

    @fastapi_app.get("/static/{name}", name="static", dependencies=[static_user])
    def static(name: str) -> Response:
        media_type = STATIC_FILES.get(name)
        if media_type is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return FileResponse(STATIC_DIR / name, media_type=media_type, headers={"Cache-Control": "no-cache"})

    return fastapi_app


class LazyApp:
    """ASGI app that builds the FastAPI app on first use (see the module docstring)."""

    def __init__(self) -> None:
        self._app: FastAPI | None = None
        self._lock = threading.Lock()

    def get(self) -> FastAPI:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = create_app()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = _content_length(scope)
            if declared is None or declared > MAX_BODY_BYTES:
                await _body_too_large(send)
                return
            receive = _capped(receive)
        await self.get()(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared body length (0 when none is declared); None when it is not a number."""
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return 0


def _capped(receive: Receive) -> Receive:
    """``receive`` that refuses a streamed (chunked) body once it passes MAX_BODY_BYTES."""
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        if message.get("type") == "http.request":
            seen += len(message.get("body", b""))
            if seen > MAX_BODY_BYTES:
                from starlette.exceptions import HTTPException

                raise HTTPException(413, "Request body too large.")
        return message

    return capped


async def _body_too_large(send: Send) -> None:
    body = b'{"error": "Request body too large."}'
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


app = LazyApp()
