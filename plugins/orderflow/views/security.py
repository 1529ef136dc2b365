"""Who is asking, may they, and did the request come from our own page.

- The user comes from Airflow's JWT (the ``_token`` cookie the FAB login sets, or a Bearer header),
  resolved by Airflow's own ``get_user``: no second login, no second session store.
- Every route checks ``is_authorized_custom_view`` on its resource: GET needs ``can_read``, a state
  change ``can_edit`` (FAB's action for method PUT), so "may look" and "may change" are separate.
- Anonymous visitors are sent to the FAB login page with ``next`` pointing back; a logged-in user
  without the permission gets 403.
- CSRF: the JWT cookie is ambient (SameSite=Lax only stops cross-site POSTs from most browsers), so
  every state-changing request must also carry a token that only our pages can know. The token is
  ``<issued>.<nonce>.<HMAC(csrf key, user id | issued | nonce)>``: bound to the user, so it cannot be
  forged, cannot be replayed by another user, and needs no server-side session. It expires after
  ``CSRF_TOKEN_TTL``. The CSRF key is orderflow's own: ``ORDERFLOW_CSRF_SECRET`` when set, else a key
  derived from Airflow's ``[api] secret_key`` for this one purpose (HMAC with a label), so nothing
  orderflow signs is ever a value signed with Airflow's key itself. Malformed tokens (non-ASCII
  included) are refusals, never errors.
- Anonymous visitors are never staff: with ``[fab] auth_role_public`` set, FAB gives every visitor
  without a token an anonymous user holding the public role; our pages send it to the login page.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orderflow.views.resources import READ

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.base_auth_manager import ResourceMethod
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
# A working shift plus margin: a page left open all day still posts; a leaked token dies overnight.
CSRF_TOKEN_TTL = 14 * 3600
# A token is ``<10 digits>.<16 chars>.<64 hex>``; anything much longer is not ours.
CSRF_TOKEN_MAX_LENGTH = 200
CSRF_SECRET_ENV = "ORDERFLOW_CSRF_SECRET"  # noqa: S105 (the variable's name)
_CSRF_KEY_LABEL = b"orderflow staff pages: CSRF token key v1"

_bearer = HTTPBearer(auto_error=False)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


class LoginRequired(Exception):
    """No valid Airflow session: the app's handler redirects to the login page."""


class Forbidden(Exception):
    """Logged in, but without the permission this route needs."""

    def __init__(self, resource: str, message: str | None = None) -> None:
        self.resource = resource
        self.message = message or f"Your role does not give access to the {resource}."
        super().__init__(self.message)


class CsrfRejected(Exception):
    """A state-changing request without a valid CSRF token: refused before anything changes."""


@dataclass(frozen=True)
class StaffUser:
    """The logged-in Airflow user, as the pages need it."""

    user: BaseUser  # the auth manager's user object (FAB ``User``)
    username: str
    display_name: str
    user_id: str

    def can(self, method: ResourceMethod, resource: str) -> bool:
        from airflow.api_fastapi.app import get_auth_manager

        return bool(
            get_auth_manager().is_authorized_custom_view(method=method, resource_name=resource, user=self.user)
        )


def _staff_user(user: BaseUser) -> StaffUser:
    username = str(user.get_name())
    full = ""
    if hasattr(user, "get_full_name"):
        full = str(user.get_full_name() or "").strip()
    return StaffUser(user=user, username=username, display_name=full or username, user_id=str(user.get_id()))


async def current_user(request: Request, bearer: HTTPAuthorizationCredentials | None) -> StaffUser:
    # Airflow's resolver (cookie or Bearer, JWT checks, the refresh middleware's cached user);
    # imported late so importing the plugin stays cheap outside the api-server.
    from airflow.api_fastapi.core_api.security import get_user

    try:
        user = await get_user(request, None, bearer)
    except HTTPException as exc:  # 401 no/expired token, 403 invalid token: both mean "log in"
        raise LoginRequired from exc
    if user is None or _is_anonymous(user):
        raise LoginRequired
    return _staff_user(user)


def _is_anonymous(user: BaseUser) -> bool:
    """FAB's public-role visitor (``[fab] auth_role_public``) or any user without an id."""
    if getattr(user, "is_anonymous", False) is True:
        return True
    try:
        user_id = user.get_id()
    except Exception:
        return True
    return user_id is None or str(user_id).strip() in ("", "None")


def login_url(request: Request) -> str:
    """The auth manager's login page, with ``next`` = this page (path and query only: no open redirect)."""
    from airflow.api_fastapi.app import get_auth_manager

    target = page_url_for_next(request)
    try:
        return get_auth_manager().get_url_login(next_url=target)
    except Exception:  # an auth manager without a login URL: Airflow's default path
        return f"/auth/login/?next={quote(target, safe='/')}"


def page_url_for_next(request: Request) -> str:
    path = request.url.path
    # After logging in the browser comes back with GET: a POST target is not a page, its page is.
    if request.method != "GET":
        path = path.rsplit("/", 1)[0]  # .../orders/X/scans -> the order page .../orders/X
    query = f"?{request.url.query}" if request.method == "GET" and request.url.query else ""
    return path + query


# -- CSRF -----------------------------------------------------------------------------------------
def _secret() -> bytes:
    """orderflow's CSRF key: its own setting, else derived from ``[api] secret_key`` for this use only."""
    own = os.environ.get(CSRF_SECRET_ENV, "")
    if own:
        return hashlib.sha256(b"orderflow-csrf-secret|" + own.encode()).digest()
    from airflow.configuration import conf

    key = conf.get("api", "secret_key", fallback="")
    if not key:
        raise RuntimeError(f"neither {CSRF_SECRET_ENV} nor [api] secret_key is set: CSRF tokens cannot be signed")
    return hmac.new(key.encode(), _CSRF_KEY_LABEL, hashlib.sha256).digest()


def _sign(user_id: str, issued: str, nonce: str) -> str:
    msg = f"orderflow-csrf|{user_id}|{issued}|{nonce}".encode()
    return hmac.new(_secret(), msg, hashlib.sha256).hexdigest()


def issue_csrf_token(user: StaffUser) -> str:
    issued = str(int(time.time()))
    nonce = secrets.token_urlsafe(12)
    return f"{issued}.{nonce}.{_sign(user.user_id, issued, nonce)}"


def csrf_token_valid(user: StaffUser, token: str | None, *, now: float | None = None) -> bool:
    if not token or len(token) > CSRF_TOKEN_MAX_LENGTH or not token.isascii() or token.count(".") != 2:
        return False  # compare_digest raises on non-ASCII text: a refusal, not a 500
    issued, nonce, signature = token.split(".")
    if not issued.isdigit() or not nonce or not signature:
        return False
    age = (now if now is not None else time.time()) - int(issued)
    if age < -60 or age > CSRF_TOKEN_TTL:
        return False
    return hmac.compare_digest(signature, _sign(user.user_id, issued, nonce))


async def _token_from_request(request: Request) -> str | None:
    token = request.headers.get(CSRF_HEADER)
    if token:
        return token
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # Starlette caches the parsed form: the route reads it again
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


# -- dependencies ---------------------------------------------------------------------------------
def require(resource: str, method: ResourceMethod = READ) -> Callable[..., Awaitable[StaffUser]]:
    """Dependency: the logged-in user, allowed ``method`` on ``resource``; CSRF-checked for writes."""

    async def dependency(
        request: Request, bearer: Bearer
    ) -> StaffUser:
        user = await current_user(request, bearer)
        if not user.can(method, resource):
            raise Forbidden(resource)
        if method != READ and not csrf_token_valid(user, await _token_from_request(request)):
            raise CsrfRejected
        return user

    return dependency


def require_any(*resources: str) -> Callable[..., Awaitable[StaffUser]]:
    """Dependency for shared assets (CSS/JS): any one of the pages' read permissions will do."""

    async def dependency(
        request: Request, bearer: Bearer
    ) -> StaffUser:
        user = await current_user(request, bearer)
        if not any(user.can(READ, r) for r in resources):
            raise Forbidden(" or ".join(resources))
        return user

    return dependency
