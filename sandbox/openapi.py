"""Validate JSON bodies against Mirakl's published seller OpenAPI (the copy in ``reference/``).

The document marks no field nullable, yet its own examples and the real API carry ``null`` in
many fields, so on loading every schema ``type`` also admits ``"null"`` (and every ``enum`` admits
``None``). Everything else (required fields, nested shapes, ``$ref``s) is enforced as written.

Used by the sandbox's contract tests and by the hooks' tests::

    from sandbox.openapi import validate_mirakl
    validate_mirakl("/api/orders", "GET", 200, body)                       # a response
    validate_mirakl("/api/orders/{order_id}/accept", "PUT", 204, payload, kind="request")
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Literal

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

OPENAPI_PATH = Path(__file__).resolve().parent / "reference" / "mirakl-mmp-seller-openapi.json"
_BASE_URI = "urn:mirakl-mmp-seller-openapi"
_JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})


class OpenAPIValidationError(AssertionError):
    """A body does not match the documented schema; ``errors`` lists every mismatch."""

    def __init__(self, where: str, errors: list[str]) -> None:
        super().__init__(f"{where}: {len(errors)} schema error(s):\n  " + "\n  ".join(errors[:20]))
        self.errors = errors


def _allow_null(node: Any) -> Any:
    """Rewrite schemas so that ``null`` is valid wherever a value is (see module docstring)."""
    if isinstance(node, dict):
        out = {key: _allow_null(value) for key, value in node.items()}
        kind = node.get("type")
        # Only a string naming a JSON type is a schema keyword; a property called "type" inside
        # "properties" maps to a dict and is left to the recursion.
        if isinstance(kind, str) and kind in _JSON_TYPES:
            out["type"] = [kind, "null"] if kind != "null" else "null"
        elif isinstance(kind, list) and all(isinstance(k, str) for k in kind) and "null" not in kind:
            out["type"] = [*kind, "null"]
        if isinstance(node.get("enum"), list) and None not in node["enum"]:
            out["enum"] = [*node["enum"], None]
        return out
    if isinstance(node, list):
        return [_allow_null(item) for item in node]
    return node


@functools.lru_cache(maxsize=1)
def _document() -> tuple[dict, Registry]:
    raw = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    doc = {"paths": raw["paths"], "components": _allow_null(raw["components"])}
    resource = Resource.from_contents(doc, default_specification=DRAFT202012)
    return doc, Registry().with_resource(_BASE_URI, resource)


def operation(path_template: str, method: str) -> dict:
    """The OpenAPI operation object for ``METHOD path_template`` (KeyError when undocumented)."""
    doc, _ = _document()
    try:
        return doc["paths"][path_template][method.lower()]
    except KeyError:
        raise KeyError(f"{method.upper()} {path_template} is not in the Mirakl OpenAPI") from None


def schema_for(
    path_template: str,
    method: str,
    status: int | str = 200,
    kind: Literal["response", "request"] = "response",
) -> dict | None:
    """The (null-tolerant) schema of a body; None when the operation documents no body there."""
    op = operation(path_template, method)
    if kind == "request":
        content = (op.get("requestBody") or {}).get("content") or {}
    else:
        responses = op.get("responses") or {}
        response = responses.get(str(status))
        if response is None:
            raise KeyError(
                f"{method.upper()} {path_template} documents no {status} response "
                f"(documented: {', '.join(sorted(responses))})"
            )
        content = response.get("content") or {}
    for media_type in ("application/json", "multipart/form-data"):
        if media_type in content and "schema" in content[media_type]:
            return _allow_null(content[media_type]["schema"])
    return None


def validate_mirakl(
    path_template: str,
    method: str,
    status: int | str,
    body: Any,
    kind: Literal["response", "request"] = "response",
) -> None:
    """Raise :class:`OpenAPIValidationError` unless ``body`` matches the documented schema.

    ``body`` is the parsed JSON. For a multipart request pass the parts as a dict of parsed JSON
    values, e.g. ``{"message_input": {...}}``. A documented body-less answer (204) only accepts
    ``None`` or ``b""``/``""``.
    """
    where = f"{method.upper()} {path_template} {kind} {status}"
    schema = schema_for(path_template, method, status, kind)
    if schema is None:
        if body not in (None, b"", ""):
            raise OpenAPIValidationError(where, [f"no body is documented, got {body!r:.200}"])
        return
    _, registry = _document()
    # $refs in the operation point at "#/components/...": resolve them inside the stored document.
    wrapped = {"$id": _BASE_URI + "/operation", **_rebase_refs(schema)}
    validator = jsonschema.Draft202012Validator(wrapped, registry=registry)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        raise OpenAPIValidationError(
            where, [f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message:.300}" for e in errors]
        )


def _rebase_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (_BASE_URI + value if key == "$ref" and isinstance(value, str) and value.startswith("#")
                  else _rebase_refs(value))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rebase_refs(item) for item in node]
    return node
