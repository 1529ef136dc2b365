"""The Mirakl seller API's wire format, for every route of the sandbox: dates, the error body, and
how a request's parameters and bodies are read (a clean Mirakl 4xx for each way they can be wrong).

Nothing here knows the simulated world or the routing: :mod:`sandbox.mirakl.state` and the route
modules use these so that every endpoint refuses bad input the same way.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from sandbox.core import HTTPError, Request, Response, json_response

MAX_BODY_CHARS = 50_000


def iso(ts: float, millis: bool = False) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    if millis:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float:
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)  # Mirakl dates are UTC
    return dt.timestamp()


def mirakl_error(status: int, message: str, code: str | None = None) -> Response:
    """Mirakl's error body (unconfirmed): ``{"message", "status"}``, plus the code twice.

    Where the documented OR21 codes sit in the body is unconfirmed, so the code is both the
    message's prefix and an ``errors[0].code``: a client that looks in either place finds it.
    """
    body: dict[str, Any] = {"message": f"{code}: {message}" if code else message, "status": status}
    if code:
        body["errors"] = [{"code": code, "message": message}]
    return json_response(status, body)


class MiraklError(HTTPError):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(status, message, mirakl_error(status, message, code))


def money(value: float) -> float:
    return round(value + 1e-9, 2)



def csv_param(req: Request, name: str) -> list[str] | None:
    values = req.query.get(name)
    if values is None:
        return None
    items = [item.strip() for value in values for item in value.split(",") if item.strip()]
    return items


def date_param(req: Request, name: str) -> float | None:
    value = req.param(name)
    if value in (None, ""):
        return None
    try:
        return parse_iso(value)
    except ValueError:
        raise MiraklError(400, f"Invalid date for parameter {name}: {value!r} (expected ISO 8601)",
                          "VALIDATION_ERROR") from None


def bool_param(req: Request, name: str) -> bool | None:
    value = req.param(name)
    if value in (None, ""):
        return None
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise MiraklError(400, f"Invalid boolean for parameter {name}: {value!r}", "VALIDATION_ERROR")


def int_param(req: Request, name: str, default: int) -> int:
    value = req.param(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise MiraklError(400, f"Invalid integer for parameter {name}: {value!r}", "VALIDATION_ERROR") from None


def in_range(ts: float, start: float | None, end: float | None) -> bool:
    return (start is None or ts >= start) and (end is None or ts <= end)


def require_length(req: Request) -> None:
    # A PUT without Content-Length gets 411 from the real front end (sheet §3, OR24 quirk).
    if req.header("Content-Length") is None and req.header("Transfer-Encoding") is None:
        raise MiraklError(411, "Length Required")


def json_body(req: Request) -> Any:
    require_length(req)
    content_type = (req.header("Content-Type") or "").lower()
    if not content_type.startswith("application/json"):
        raise MiraklError(415, f"Content-Type must be application/json, got {content_type or 'none'!r}")
    try:
        return json.loads(req.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MiraklError(400, f"Malformed JSON body: {exc}", "VALIDATION_ERROR") from exc


def multipart_json(req: Request, part_name: str) -> dict[str, Any]:
    content_type = (req.header("Content-Type") or "").lower()
    if not content_type.startswith("multipart/form-data"):
        raise MiraklError(415, f"Content-Type must be multipart/form-data, got {content_type or 'none'!r}")
    try:
        parts = req.multipart()
    except HTTPError as exc:
        raise MiraklError(400, exc.message, "VALIDATION_ERROR") from exc
    if part_name not in parts:
        raise MiraklError(400, f"Missing part {part_name!r}", "VALIDATION_ERROR")
    try:
        value = json.loads(parts[part_name][0].text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MiraklError(400, f"Part {part_name!r} is not valid JSON: {exc}", "VALIDATION_ERROR") from exc
    if not isinstance(value, dict):
        raise MiraklError(400, f"Part {part_name!r} must be a JSON object", "VALIDATION_ERROR")
    body = value.get("body")
    if isinstance(body, str) and len(body) > MAX_BODY_CHARS:
        raise MiraklError(400, f"body exceeds {MAX_BODY_CHARS} characters", "VALIDATION_ERROR")
    return value



def encode_token(payload: Any) -> str:
    """An opaque page token: JSON in unpadded URL-safe base64 (M11 and RT11 put different things in it)."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def decode_token(token: str) -> Any:
    """What :func:`encode_token` wrapped; a 400 ``Invalid page_token`` for anything else."""
    try:
        return json.loads(base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()))
    except (ValueError, TypeError, binascii.Error):
        raise MiraklError(400, "Invalid page_token", "VALIDATION_ERROR") from None
