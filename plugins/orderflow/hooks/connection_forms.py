"""The Airflow connection forms of the two connection types, as provider-info ``connection-types`` entries.

Airflow 3.3 builds a typed connection form only for connection types an installed *provider* declares
(``get_provider_info()`` behind the ``apache_airflow_provider`` entry point, see
:mod:`orderflow.provider_info`); it reads ``conn-fields`` (JSON-schema fields, shown as the "Extra
Fields" of the form) and ``ui-field-behaviour`` (hide, relabel and give placeholders to the standard
fields) without importing the hook. The form stores every ``conn-fields`` value in the connection's
``extra`` under the field's own name (``{"customer_number": "0001234567", ...}``): exactly today's
extras, so ``AIRFLOW_CONN_*`` variables and JSON extras written by hand keep working, and the hooks
read one format. An empty field may arrive as ``null``; the hooks treat ``null`` as "not set".

**Port is shown on purpose.** Airflow 3.3.2's UI tests a saved connection from the list's "Test"
button with ``port = Number(null) = 0``, and the API refuses (HTTP 400, "host or port differs from the
stored connection") when the stored port is empty. A connection whose port is set (443 for the real
APIs) tests fine; the hooks ignore the port when the Base URL names one.

Data only (no imports): every Airflow process loads provider info at start-up.
"""

from __future__ import annotations

from typing import Any

_STR = ["string", "null"]
# Shown (not hidden) because Airflow 3.3.2's list "Test" button needs a stored port (see the module doc).
PORT_LABEL = "Port (443; needed by the Test button)"


def _field(label: str, description: str, section: str, schema_type: list[str] | None = None,
           **schema: Any) -> dict[str, Any]:
    return {
        "label": label,
        "description": description,
        "schema": {"type": schema_type or _STR, "section": section, **schema},
    }


MIRAKL_CONN_FIELDS: dict[str, Any] = {
    "shop_id": _field(
        "Shop id", "Only needed when the API key's user can access several shops (e.g. 2001).",
        "Best Buy shop", ["integer", "null"],
    ),
    "rate_limits": _field(
        "Rate limits (calls per minute)",
        'Per call type, e.g. {"OR11_poll": 1, "OR11_lookup": 30}. Keys: OR11_poll (default 1: Mirakl polls at '
        "most once a minute), OR11_lookup (default 30), OR21, OR23, OR24, SH21, M10, M11, M12, OR43 (default "
        "unlimited). 0 or null = unlimited. Empty = the defaults.",
        "Limits", ["object", "null"],
    ),
    "timeout": _field(
        "Read timeout (seconds)", "Per-request read timeout (connect timeout is 10 s). Empty = 30 s.",
        "Limits", ["number", "null"],
    ),
}

MIRAKL_CONNECTION_TYPE: dict[str, Any] = {
    "hook-class-name": "orderflow.hooks.mirakl.MiraklHook",
    "hook-name": "Best Buy Marketplace (Mirakl)",
    "connection-type": "mirakl",
    "ui-field-behaviour": {
        "hidden-fields": ["schema", "login"],
        "relabeling": {"host": "Base URL", "password": "Shop API key", "port": PORT_LABEL},
        "placeholders": {
            "host": "https://marketplace.bestbuy.ca",
            "port": "443",
            "password": "API key from the seller back office (My user > API Key)",
        },
    },
    "conn-fields": MIRAKL_CONN_FIELDS,
}

_ACCOUNT = "Canada Post account"
_SENDER = "Sender (the return address printed on every label)"
_LABELS = "Labels and shipping"
_ADVANCED = "Advanced"

CANADAPOST_CONN_FIELDS: dict[str, Any] = {
    "api": _field(
        "API transport",
        "Developer Portal (OAuth 2: Login = client id, Password = client secret) or the XML gateway "
        "(Login/Password = the API key pair). Empty: a soa-gw host means the XML gateway, any other host the "
        "portal.",
        _ACCOUNT, enum=[None, "portal", "xml"],
        values_display={"None": "From the base URL", "portal": "Developer Portal (OAuth 2)",
                        "xml": "XML gateway (API key pair)"},
    ),
    "customer_number": _field(
        "Customer number", "Required: your Canada Post customer number (mailed by), 1-10 digits, e.g. 0001234567.",
        _ACCOUNT,
    ),
    "mobo": _field(
        "Mailed on behalf of", "Customer number the shipments are mailed on behalf of. Empty = the customer number.",
        _ACCOUNT,
    ),
    "contract_id": _field(
        "Contract id",
        "Your commercial contract number. Empty = non-contract shipping (XML gateway only: no groups, no "
        "manifest, no void; a cancel is a refund).",
        _ACCOUNT,
    ),
    "refund_email": _field(
        "Refund e-mail", "Where Canada Post sends refund tickets for labels that can only be refunded.", _ACCOUNT,
    ),
    "sender_name": _field("Sender name", "Contact name (optional).", _SENDER),
    "sender_company": _field("Sender company", "Required.", _SENDER),
    "sender_phone": _field("Sender phone", "Required, e.g. 416-555-0100.", _SENDER),
    "sender_address_line_1": _field("Sender address line 1", "Required.", _SENDER),
    "sender_address_line_2": _field("Sender address line 2", "Optional.", _SENDER),
    "sender_city": _field("Sender city", "Required.", _SENDER),
    "sender_province": _field("Sender province", "Required: two letters, e.g. ON.", _SENDER),
    "sender_postal_code": _field("Sender postal code", "Required, e.g. K1A0B1.", _SENDER),
    "sender_country_code": _field("Sender country code", "Empty = CA.", _SENDER),
    "origin_postal_code": _field(
        "Origin postal code", "Where parcels are handed to Canada Post (requested shipping point). "
        "Empty = the sender postal code.", _LABELS,
    ),
    "service_code": _field(
        "Default service code", "Used when the shipping rules name none. Empty = DOM.EP (Expedited Parcel).",
        _LABELS,
    ),
    "output_format": _field(
        "Label format", "Label size. Empty = 4x6 (8.5x11 is contract only).", _LABELS,
        enum=[None, "4x6", "8.5x11"], values_display={"None": "4x6 (default)"},
    ),
    "encoding": _field(
        "Label encoding", "PDF for office printers, ZPL for thermal printers. Empty = PDF.", _LABELS,
        enum=[None, "PDF", "ZPL"], values_display={"None": "PDF (default)"},
    ),
    "method_of_payment": _field(
        "Method of payment", "Empty = Account.", _LABELS,
        enum=[None, "Account", "CreditCard", "SupplierAccount"], values_display={"None": "Account (default)"},
    ),
    "group_id": _field(
        "Group strategy",
        "Contract shipping only. Empty or daily = each label joins the group of its mailing day, which the "
        "end-of-day DAG transmits; none = each shipment transmitted at once (no manifest; such shipments can "
        "only be refunded, not voided); any other value is used as the group id literally (transmitting it is "
        "then yours).",
        _LABELS,
    ),
    "rate_limits": _field(
        "Rate limits (calls per minute)",
        'Per Canada Post throttle group, e.g. {"A": 646, "B": 468, "C": 730, "E": 20} (the defaults), plus an '
        'optional "create" (create-shipment POSTs per minute, e.g. 20). 0 or null = unlimited.',
        _ADVANCED, ["object", "null"],
    ),
    "language": _field(
        "Language", "Language of Canada Post's messages. Empty = en-CA.", _ADVANCED,
        enum=[None, "en-CA", "fr-CA"], values_display={"None": "en-CA (default)"},
    ),
    "portal_auth": _field(
        "Portal token authentication",
        "How the portal token request presents the client id/secret. Empty = both (headers and HTTP Basic).",
        _ADVANCED, enum=[None, "both", "headers", "basic"], values_display={"None": "both (default)"},
    ),
    "token_url": _field(
        "Token URL", "Portal only. Empty = <base URL>cpc-api-native-oauth-provider/oauth2/token.", _ADVANCED,
    ),
    "nc_lookback_hours": _field(
        "Non-contract look-back (hours)",
        "How far back a non-contract recovery searches for a shipment bought before a failure. Empty = 48.",
        _ADVANCED, ["number", "null"],
    ),
}

CANADAPOST_CONNECTION_TYPE: dict[str, Any] = {
    "hook-class-name": "orderflow.hooks.canadapost.CanadaPostHook",
    "hook-name": "Canada Post",
    "connection-type": "canadapost",
    "ui-field-behaviour": {
        "hidden-fields": ["schema"],
        "relabeling": {
            "host": "Base URL",
            "port": PORT_LABEL,
            "login": "API user / client id",
            "password": "API password / client secret",
        },
        "placeholders": {
            "host": "https://api.canadapost-postescanada.ca/prod/devportal-portaildesdeveloppeurs/ "
            "or https://soa-gw.canadapost.ca",
            "port": "443",
            "login": "Portal client id, or the XML gateway API key's user part",
            "password": "Portal client secret, or the XML gateway API key's password part",
        },
    },
    "conn-fields": CANADAPOST_CONN_FIELDS,
}

CONNECTION_TYPES: list[dict[str, Any]] = [MIRAKL_CONNECTION_TYPE, CANADAPOST_CONNECTION_TYPE]


def legacy_field_behaviour(connection_type: dict[str, Any]) -> dict[str, Any]:
    """``ui-field-behaviour`` in the hook-method format (``get_ui_field_behaviour``) of older Airflows."""
    behaviour = connection_type["ui-field-behaviour"]
    return {
        "hidden_fields": list(behaviour["hidden-fields"]),
        "relabeling": dict(behaviour["relabeling"]),
        "placeholders": dict(behaviour["placeholders"]),
    }


def form_extra(extra: Any, connection_type: str) -> dict[str, Any]:
    """A connection's extras as the hooks read them: today's plain keys, plus the ``extra__<type>__<field>``
    keys that Airflow 2's connection forms saved (a plain key that is set wins)."""
    result = dict(extra or {})
    prefix = f"extra__{connection_type}__"
    for key in [k for k in result if k.startswith(prefix)]:
        value = result.pop(key)
        name = key[len(prefix):]
        if result.get(name) in (None, ""):
            result[name] = value
    return result


def json_object(value: Any, name: str) -> dict[str, Any]:
    """An object-valued extra: the object itself (JSON extras, the form's object field), the JSON text a
    person typed into a text box, or nothing (``None``/empty = ``{}``)."""
    import json

    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, dict):
        raise ValueError(f"extra {name} must be a JSON object, e.g. {{\"A\": 646}}")
    return value
