"""Canada Post Connection settings: the Airflow Connection read once into :class:`CanadaPostSettings`.

Pure (no I/O): the hook calls :meth:`CanadaPostSettings.from_connection` on first use and the wire
(:mod:`~orderflow.hooks.canadapost_wire`) builds every request from the result.

**Connection** (``canadapost_default``)

- host: base URL. XML: ``https://ct.soa-gw.canadapost.ca`` (development keys) or
  ``https://soa-gw.canadapost.ca`` (production keys). Portal:
  ``https://api.canadapost-postescanada.ca/prod/devportal-portaildesdeveloppeurs/`` (a portal host
  given without a path gets that path). A host without a scheme gets ``extra.scheme`` or https.
- login / password: XML API key pair, or portal client id / client secret (both masked in logs).
- extras:

  - ``api``: ``"portal"`` or ``"xml"``. Default ``"portal"`` (new credentials come from the portal),
    except that a ``soa-gw`` host implies ``"xml"``.
  - ``customer_number`` (required): the ``mailed-by`` customer number (1-10 digits).
  - ``mobo``: mailed-on-behalf-of customer number; default ``customer_number``.
  - ``contract_id``: commercial contract number; empty = non-contract shipping (ncshipment v4:
    no groups, no manifest, no void; cancel = refund; XML transport only).
  - ``origin_postal_code``: ``requested-shipping-point``; default ``sender_postal_code``.
  - ``service_code``: default service (``DOM.EP``); a request may name another.
  - ``sender_name``, ``sender_company`` (required), ``sender_phone`` (required),
    ``sender_address_line_1`` (required), ``sender_address_line_2``, ``sender_city`` (required),
    ``sender_province`` (required), ``sender_postal_code`` (required), ``sender_country_code``
    (``CA``): the return address printed on labels, also the manifest address.
  - ``output_format``: label size ``4x6`` (default) or ``8.5x11`` (contract only);
    ``encoding``: ``PDF`` (default) or ``ZPL``.
  - ``method_of_payment``: ``Account`` (default), ``CreditCard`` or ``SupplierAccount``.
  - ``group_id``: contract group strategy. ``"daily"`` (default) puts each label in the group of
    its mailing day: the shipping step names the group (``orderflow.mailing_day``: the cut-off;
    the day's next group once a transmit began) and the close of day (``orderflow_end_of_day``)
    transmits it; a request without a group gets today's date (Eastern, ``YYYYMMDD``). ``"none"``
    sends ``<transmit-shipment>`` (no manifest; such shipments cannot be voided, only refunded); any
    other value is used as the group id literally (transmitting it is then the seller's job).
  - ``refund_email``: the address Canada Post's refund tickets go to (default for
    ``CanadaPostHook.request_refund``).
  - ``rate_limits``: per-minute limits per throttle group, e.g. ``{"A": 646, "B": 468, "C": 730,
    "E": 20}`` (defaults shown; ``0``/``null`` = unlimited). Shared by every hook in the process.
    An optional ``"create"`` key limits create-shipment POSTs alone (creates per minute, e.g. a
    contract's "20 labels a minute"), acquired before each create POST on top of group A.
  - ``language``: ``en-CA`` (default) or ``fr-CA``.
  - ``portal_auth``: how the token call presents the client credentials: ``"both"`` (default:
    ``X-IBM-Client-Id``/``X-IBM-Client-Secret`` headers *and* HTTP Basic), ``"headers"`` or ``"basic"``.
    Which one the real gateway requires is unconfirmed; public integrations send the headers, some
    also Basic, so the default sends both.
  - ``token_url``: override of ``<base>cpc-api-native-oauth-provider/oauth2/token``.
  - ``nc_lookback_hours``: how far back a non-contract recovery searches (default 48).

**Connection form.** The installed ``orderflow`` distribution is an Airflow provider: its typed form
(one field per extra above) is :mod:`orderflow.hooks.connection_forms`; the form stores the fields as
these same extras.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from orderflow.hooks import canadapost_xml as cpxml
from orderflow.hooks._http import absolute_base_url
from orderflow.hooks.canadapost_model import Sender, ShipmentRequest
from orderflow.hooks.canadapost_xml import ShipperSettings
from orderflow.hooks.connection_forms import form_extra, json_object

if TYPE_CHECKING:
    from airflow.sdk import Connection

XML_HOSTS = {
    "dev": "https://ct.soa-gw.canadapost.ca",
    "prod": "https://soa-gw.canadapost.ca",
}
PORTAL_BASE = "https://api.canadapost-postescanada.ca/prod/devportal-portaildesdeveloppeurs/"
PORTAL_PATH = "/prod/devportal-portaildesdeveloppeurs/"
TOKEN_PATH = "cpc-api-native-oauth-provider/oauth2/token"  # noqa: S105 (a path, not a secret)

# Canada Post per-minute default limits per throttle group (reference §6): A create/get shipment and
# artifacts, B void/refund, C get shipments/transmit/manifests, E tracking.
DEFAULT_RATE_LIMITS: dict[str, float] = {"A": 646, "B": 468, "C": 730, "E": 20}
# rate_limits key of the optional per-operation limit on create-shipment POSTs (not a throttle group:
# no default; the carrier may allow fewer creates a minute than group A's calls).
CREATE_LIMIT_KEY = "create"


def _limit_key(key: Any) -> str:
    """A rate_limits key: throttle groups upper-case ("a" -> "A"), the create limit as "create"."""
    text = str(key).strip()
    return CREATE_LIMIT_KEY if text.lower() == CREATE_LIMIT_KEY else text.upper()


@dataclass(frozen=True)
class CanadaPostSettings:
    """A Canada Post Connection, read once (:meth:`from_connection`): everything the hook needs to know
    about the seller's account and how to reach it. The extras are described in the module docstring."""

    api: str  # "xml" or "portal"
    base_url: str
    # Out of repr: a config reaches tracebacks and logs, which the secrets masker may not cover.
    login: str = field(repr=False)
    password: str = field(repr=False)
    shipper: ShipperSettings
    group_strategy: str
    refund_email: str | None
    rate_limits: dict[str, float | None]
    language: str
    portal_auth: str
    token_url: str
    nc_lookback_hours: float

    @property
    def key_tag(self) -> str:
        # Throttle groups count per API key; a hash keys the limiter without putting the key in names.
        return hashlib.sha256(f"{self.base_url}|{self.login}".encode()).hexdigest()[:12]

    @property
    def label_media_type(self) -> str:
        return cpxml.MT_ZPL if self.shipper.encoding.upper() == "ZPL" else cpxml.MT_PDF

    def group_for(self, request: ShipmentRequest, now: Callable[[], datetime]) -> str | None:
        """The contract group a create names: the request's own, else the ``group_id`` strategy's
        (``daily``: the date of ``now()`` in Eastern time; ``none``/empty: no group)."""
        if request.group_id:
            return request.group_id
        strategy = self.group_strategy
        if strategy in ("", "none"):
            return None
        if strategy == "daily":
            return now().astimezone(cpxml.EASTERN).strftime("%Y%m%d")
        return strategy

    @classmethod
    def from_connection(
        cls, conn: Connection, rate_limits: Mapping[str, float | None] | None = None
    ) -> CanadaPostSettings:
        """The settings of ``conn``; ``rate_limits`` (the hook's argument) override the extra's.
        ``ValueError`` says what is missing or wrong."""
        extra: dict[str, Any] = form_extra(conn.extra_dejson, "canadapost")
        host = (conn.host or "").strip()
        if not host:
            raise ValueError("Canada Post connection needs a host (base URL)")
        parts = urlsplit(absolute_base_url(host, scheme=extra.get("scheme"), port=conn.port))
        netloc = parts.netloc
        path = parts.path
        if not path.strip("/") and conn.schema and "://" not in (conn.host or ""):
            path = "/" + conn.schema.strip("/")
        api = str(extra.get("api") or ("xml" if "soa-gw" in netloc else "portal")).lower()
        if api not in ("xml", "portal"):
            raise ValueError(f"extra api must be 'xml' or 'portal', got {api!r}")
        if api == "portal":
            if not path.strip("/"):
                path = PORTAL_PATH
            if not path.endswith("/"):
                path += "/"
        else:
            path = path.rstrip("/")
        base_url = f"{parts.scheme}://{netloc}{path}"

        def need(name: str, default: str | None = None) -> str:
            value = extra.get(name)
            value = str(value).strip() if value not in (None, "") else default
            if not value:
                raise ValueError(f"Canada Post connection extra {name!r} is required")
            return value

        def opt(name: str, default: str | None = None) -> str | None:
            value = extra.get(name)
            return str(value).strip() if value not in (None, "") else default

        customer_number = need("customer_number")
        cpxml.path_customer_number(customer_number)
        # The sender block is printed on every label and is the manifest address: a connection without
        # it is incomplete, and says so at first use (get_conn) rather than at the first purchase.
        sender_fields = {
            "company": opt("sender_company"),
            "phone": opt("sender_phone"),
            "address_line_1": opt("sender_address_line_1"),
            "city": opt("sender_city"),
            "province": opt("sender_province"),
            "postal_code": opt("sender_postal_code"),
        }
        missing = [f"sender_{k}" for k, v in sender_fields.items() if not v]
        if missing:
            raise ValueError("Canada Post connection extras are missing: " + ", ".join(missing))
        sender = Sender(
            **{k: v or "" for k, v in sender_fields.items()},
            address_line_2=opt("sender_address_line_2"),
            name=opt("sender_name"),
            country_code=opt("sender_country_code", "CA") or "CA",
        )
        contract_id = opt("contract_id")
        if api == "portal" and not contract_id:
            # No public integration shows non-contract shipping on the portal (and no path for it is
            # known): refuse rather than guess a URL that spends money.
            raise ValueError(
                "api 'portal' needs a contract_id: non-contract (ncshipment) shipping is only known on the "
                "XML gateway; use api 'xml' with the Developer Program key pair"
            )
        shipper = ShipperSettings(
            customer_number=customer_number,
            mobo=opt("mobo", customer_number) or customer_number,
            sender=sender,
            origin_postal_code=opt("origin_postal_code", sender.postal_code) or sender.postal_code,
            contract_id=contract_id,
            service_code=opt("service_code", "DOM.EP") or "DOM.EP",
            output_format=opt("output_format", "4x6") or "4x6",
            encoding=(opt("encoding", "PDF") or "PDF").upper(),
            method_of_payment=opt("method_of_payment", "Account") or "Account",
        )
        limits: dict[str, float | None] = dict(DEFAULT_RATE_LIMITS)
        extra_limits = json_object(extra.get("rate_limits"), "rate_limits")
        limits.update({_limit_key(k): (float(v) if v else None) for k, v in extra_limits.items()})
        if rate_limits:
            limits.update({_limit_key(k): v for k, v in rate_limits.items()})
        portal_auth = str(extra.get("portal_auth") or "both").lower()
        if portal_auth not in ("both", "headers", "basic"):
            raise ValueError("extra portal_auth must be 'both', 'headers' or 'basic'")
        return cls(
            api=api,
            base_url=base_url,
            login=conn.login or "",
            password=conn.password or "",
            shipper=shipper,
            group_strategy=str(extra.get("group_id") or "daily").strip(),
            refund_email=opt("refund_email"),
            rate_limits=limits,
            language=opt("language", "en-CA") or "en-CA",
            portal_auth=portal_auth,
            token_url=opt("token_url") or urljoin(base_url, TOKEN_PATH),
            nc_lookback_hours=float(extra.get("nc_lookback_hours") or 48),
        )
