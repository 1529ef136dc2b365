"""What both pages share: the Jinja2 environment, the order store, settings and formatting."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from orderflow.store.packing import barcode_hint
from orderflow.views.security import StaffUser, issue_csrf_token

if TYPE_CHECKING:
    from orderflow.settings import Settings
    from orderflow.store import OrderStore

VIEWS_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = VIEWS_DIR / "templates"
STATIC_DIR = VIEWS_DIR / "static"

# Autoescape on for every template: customer text must never become markup. No template may use
# `|safe` on data; the only markup is in the templates themselves.
_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES_DIR)),
    autoescape=select_autoescape(["html"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(request: Request, template: str, context: dict[str, Any], *, status_code: int = 200) -> HTMLResponse:
    user: StaffUser | None = context.get("user")
    base = {
        "request": request,
        "base": base_path(request),
        "csrf_token": issue_csrf_token(user) if user else "",
        "tz_name": settings().business_timezone,
    }
    html = _env.get_template(template).render(**base, **context)
    response = HTMLResponse(html, status_code=status_code)
    # Pages show customer data and carry a CSRF token: never cache them; never frame them from
    # elsewhere (the Airflow UI that frames them is same-origin).
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-src 'self'; frame-ancestors 'self'; object-src 'self'; base-uri 'none'; form-action 'self'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def base_path(request: Request) -> str:
    """Where this app is mounted (``/orderflow``, behind any ``[api] base_url`` path)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


# -- store and settings ---------------------------------------------------------------------------
_store_lock = threading.Lock()
_store: OrderStore | None = None


def get_store() -> OrderStore:
    """The process's order store (built on first use from the ``orderflow_db`` connection).

    A FastAPI dependency, so tests can override it with a store on their own database.
    """
    global _store
    with _store_lock:
        if _store is None:
            from orderflow.store import OrderStore

            _store = OrderStore.from_conn_id("orderflow_db")
        return _store


_settings_lock = threading.Lock()
_settings: tuple[float, Settings] | None = None
# Settings come from env vars and Airflow Variables; re-reading them on every scan would cost a
# dozen Variable look-ups per request, so the pages re-read them once a minute.
SETTINGS_TTL_SECONDS = 60.0


def settings() -> Settings:
    global _settings
    with _settings_lock:
        now = time.monotonic()
        if _settings is None or now - _settings[0] > SETTINGS_TTL_SECONDS:
            from orderflow.settings import Settings

            _settings = (now, Settings.load())
        return _settings[1]


def reset_caches() -> None:
    """Forget the cached store and settings (tests that change the environment)."""
    global _store, _settings
    with _store_lock:
        _store = None
    with _settings_lock:
        _settings = None


# -- formatting -----------------------------------------------------------------------------------
def utcnow() -> datetime:
    return datetime.now(UTC)


def local_time(value: datetime | None, tz_name: str, fmt: str = "%a %b %d, %H:%M") -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(ZoneInfo(tz_name)).strftime(fmt)


def duration_text(seconds: float) -> str:
    """``2 d 3 h``, ``3 h 20 min``, ``12 min`` (always positive; the caller says late or left)."""
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def after_sale(status: str | None) -> dict[str, bool]:
    """Which after-sale actions (issue 13) an order in ``status`` offers: the pages' links."""
    from orderflow import lifecycle

    try:
        current = lifecycle.OrderStatus(status) if status else None
    except ValueError:
        current = None
    return {"cancel": current in lifecycle.SELLER_CANCELABLE, "refund": current in lifecycle.REFUNDABLE}


_env.globals["after_sale"] = after_sale
_env.filters["local_time"] = local_time
_env.filters["duration"] = duration_text
_env.filters["barcode_hint"] = barcode_hint
