"""Canada Post hook: the thin I/O layer over two wires (XML gateway, Developer Portal OAuth2/JSON).

Request building and answer parsing live in pure modules beside this one
(:mod:`~orderflow.hooks.canadapost_xml`, :mod:`~orderflow.hooks.canadapost_json`); the model is in
:mod:`~orderflow.hooks.canadapost_model`, the exceptions in :mod:`~orderflow.hooks.canadapost_errors`
(all re-exported here).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar, overload

import requests
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from orderflow.hooks import canadapost_json as cpjson
from orderflow.hooks import canadapost_nc_lookup as nclookup
from orderflow.hooks import canadapost_xml as cpxml
from orderflow.hooks._http import (
    RateLimiter,
    RetryPolicy,
    backoff,
    build_session,
    never_connected,
    parse_retry_after,
    retrying,
    same_origin,
)
from orderflow.hooks.canadapost_errors import (
    CanadaPostAuthError,
    CanadaPostError,
    CanadaPostFieldMappingError,
    CanadaPostForeignLinkError,
    CanadaPostNotFoundError,
    CanadaPostPermanentError,
    CanadaPostRetryableError,
    CanadaPostThrottledError,
    CreateInDoubt,
    RefundAlreadyRequested,
    RefundRequired,
    ShipmentOutcomeUnknown,
    VoidNotFound,
    _ArtifactNotReady,
    _MalformedAnswer,
    _NotSent,
    create_not_processed,
    exception_for,
    is_retryable,
)
from orderflow.hooks.canadapost_model import (
    Address,
    CarrierMessage,
    Parcel,
    Recipient,
    References,
    RefundInfo,
    Sender,
    ShipmentDetails,
    ShipmentInfo,
    ShipmentRequest,
    TrackingSummary,
    TransmitResult,
)
from orderflow.hooks.canadapost_settings import CREATE_LIMIT_KEY, CanadaPostSettings
from orderflow.hooks.canadapost_wire import (
    VOIDED_STATUSES,
    Answer,
    Call,
    Wire,
    XmlWire,
    artifact_complete,
    shipment_ref,
    short_ref,
    wire_for,
)
from orderflow.hooks.connection_forms import CANADAPOST_CONNECTION_TYPE, legacy_field_behaviour

__all__ = [
    "Address",
    "CanadaPostAuthError",
    "CanadaPostError",
    "CanadaPostFieldMappingError",
    "CanadaPostHook",
    "CanadaPostNotFoundError",
    "CanadaPostPermanentError",
    "CanadaPostRetryableError",
    "CanadaPostSettings",
    "CanadaPostThrottledError",
    "CarrierMessage",
    "CreateInDoubt",
    "Parcel",
    "Recipient",
    "References",
    "RefundAlreadyRequested",
    "RefundInfo",
    "RefundRequired",
    "Sender",
    "ShipmentInfo",
    "ShipmentOutcomeUnknown",
    "ShipmentRequest",
    "TrackingSummary",
    "TransmitResult",
    "VoidNotFound",
    "create_not_processed",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

# How far past "now" a non-contract look-up window reaches (clock skew between us and Canada Post).
NC_WINDOW_FUTURE = timedelta(hours=24)

# Tracking answers for a PIN with no scan yet (reference §6/§8).
NO_TRACKING_YET_CODES = frozenset({"004", "007"})

_CREATE_OPS = frozenset({"create_shipment"})

class _Token:
    def __init__(self, value: str, expires_at: float) -> None:
        self.value = value
        self.expires_at = expires_at


class CanadaPostHook(BaseHook):
    """Canada Post shipping: labels (contract v8 or non-contract v4), void, refund, manifest, tracking.

    Two transports behind one API, chosen by the connection; operators never see which:

    - ``xml``: the REST/XML gateway (``soa-gw``) with HTTP Basic auth (API key pair from the
      Developer Program: username = login, password = password).
    - ``portal``: the Developer Portal (``api.canadapost-postescanada.ca/prod/devportal-portaildesdeveloppeurs/``)
      with OAuth 2 client credentials (client id = login, client secret = password) and JSON bodies.

    **Connection** (``canadapost_default``): host, login/password and the extras are described in
    :mod:`~orderflow.hooks.canadapost_settings`, which reads them (:class:`CanadaPostSettings`).

    **Portal JSON names.** Keys are the camelCase of the XML v8 element names, derived mechanically by
    :mod:`~orderflow.hooks.canadapost_json` (the portal schema is behind a login). Confirmed by public
    integrations: ``deliverySpec``, ``parcelCharacteristics``, ``weight``, ``settlementInfo``,
    ``intendedMethodOfPayment``, ``groupId``, ``transmitShipment``, ``customerRequestId``. Derived, not
    confirmed: every other request key (``requestedShippingPoint``, ``providePricingInfo``,
    ``serviceCode``, ``sender``/``destination``/``name``/``company``/``contactPhone``/
    ``clientVoiceNumber``/``additionalAddressInfo``/``addressDetails``/``addressLine1``/``addressLine2``/
    ``city``/``provState``/``countryCode``/``postalZipCode``, ``dimensions``/``length``/``width``/
    ``height``, ``notification``/``email``/``onShipment``/``onException``/``onDelivery``,
    ``printPreferences``/``outputFormat``/``encoding``, ``preferences``/``showPackingInstructions``/
    ``showPostageRate``/``showInsuredValue``, ``references``/``costCentre``/``customerRef1``/
    ``customerRef2``, ``contractId``, ``expectedMailingDate``), the refund body (``email``), the
    transmit body (``groupIds`` as an array, ``requestedShippingPoint``, ``detailedManifests``,
    ``methodOfPayment``, ``manifestAddress``/``manifestCompany``/``manifestName``/``phoneNumber``), every
    answer key (``shipmentId``, ``shipmentStatus``, ``trackingPin``, ``poNumber``,
    ``shipmentPrice.dueAmount``, ``links[]`` of ``{rel, href, mediaType, index}``,
    ``serviceTicketId``/``serviceTicketDate``, ``pinSummary[]`` fields), the list query parameters
    (``requestId``, ``trackingPIN``, ``from``/``to`` as on the XML gateway), arrays for repeated
    elements, JSON numbers for weight/dimensions and booleans for flags. Non-contract shipping is not
    offered on the portal transport (no public source shows it): ``api=portal`` requires ``contract_id``.
    A 400 whose message says a field *name* was refused raises
    :class:`CanadaPostFieldMappingError` (our mapping, not the seller's data).

    **Money rules.** :meth:`create_shipment` never re-POSTs blindly: after any doubtful outcome
    (timeout, dropped connection, 5xx, throttle, malformed answer) it first looks the shipment up by
    ``customer_request_id`` (contract: Get Shipments ``?requestId=``; non-contract: Get NC Shipments in a
    time window, then each one's details matched on ``customer-ref-1/2``, reading only shipments the
    ``nc_seen`` memory has not seen: :mod:`~orderflow.hooks.canadapost_nc_lookup`) and adopts what it finds.
    It POSTs again (at most ``create_attempts`` times) only after answers that prove the create was not
    processed (throttled, never connected); after an ambiguous one whose look-up finds nothing it
    raises :class:`CreateInDoubt` and never POSTs again in that call: a look-up right after proves
    nothing (a create still processing, a search behind). The caller keeps the doubt and waits
    ``create_recheck_seconds`` before a look-up that may allow a new POST (orderflow's shipping step). Reads
    retry freely (429/5xx/connection errors, ``Retry-After`` honoured, jittered backoff, "Rejected by
    SLM Monitor" waits ``throttle_wait`` ≥ 60 s). A void is never reported done on anything but 204.
    """

    conn_name_attr = "canadapost_conn_id"
    default_conn_name = "canadapost_default"
    conn_type = "canadapost"
    hook_name = "Canada Post"

    # Portal tokens per process, keyed by (token URL, client id, a hash of the secret): one token serves every hook
    # instance of those credentials.
    _tokens: ClassVar[dict[tuple[str, str, str], _Token]] = {}
    _tokens_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        canadapost_conn_id: str = default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        timeout: float | tuple[float, float] = (10.0, 45.0),
        rate_limits: dict[str, float | None] | None = None,
        throttle_wait: float = 60.0,
        artifact_wait: float = 1.0,
        create_attempts: int = 3,
        token_refresh_margin: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] | None = None,
        nc_seen: nclookup.SeenShipments | None = None,
    ) -> None:
        super().__init__()
        self.canadapost_conn_id = canadapost_conn_id
        self.retry_policy = retry_policy or RetryPolicy()
        self.timeout = timeout
        self.rate_limits = rate_limits
        self.throttle_wait = throttle_wait
        self.artifact_wait = artifact_wait
        self.create_attempts = create_attempts
        self.token_refresh_margin = token_refresh_margin
        self._sleep = sleep
        self._clock = clock
        self._now = now or (lambda: datetime.now(UTC))
        # What non-contract look-ups read once is kept here and never read again (see canadapost_nc_lookup).
        self.nc_seen: nclookup.SeenShipments = nc_seen or nclookup.NothingSeen()
        self._session: requests.Session | None = None
        self._config: CanadaPostSettings | None = None

    # ----------------------------------------------------------------------------------------
    # Airflow UI
    # ----------------------------------------------------------------------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Form behaviour in the legacy hook format; the provider's form is
        :data:`orderflow.hooks.connection_forms.CANADAPOST_CONNECTION_TYPE`."""
        return legacy_field_behaviour(CANADAPOST_CONNECTION_TYPE)

    # ----------------------------------------------------------------------------------------
    # connection → configuration (first use only)
    # ----------------------------------------------------------------------------------------

    def get_conn(self) -> requests.Session:
        if self._session is None:
            config = self._load_config()
            session = build_session({"Accept-language": config.language})
            if config.api == "xml":
                session.auth = (config.login, config.password)
            self._session = session
        return self._session

    @property
    def config(self) -> CanadaPostSettings:
        return self._load_config()

    def _load_config(self) -> CanadaPostSettings:
        if self._config is None:
            conn = self.get_connection(self.canadapost_conn_id)
            self._config = CanadaPostSettings.from_connection(conn, self.rate_limits)
            if self._config.password:
                mask_secret(self._config.password)
        return self._config

    def _wire(self) -> Wire:
        return wire_for(self._load_config())

    # ----------------------------------------------------------------------------------------
    # public operations
    # ----------------------------------------------------------------------------------------

    def create_shipment(
        self,
        request: ShipmentRequest,
        *,
        look_up_first: bool = True,
        since: datetime | None = None,
    ) -> ShipmentInfo:
        """Buy the label for ``request`` exactly once per ``customer_request_id``.

        ``look_up_first`` (default) checks for an earlier purchase with this id before the first POST
        (a re-run, a dead worker). Pass False only right after inserting the ``intent`` row in the same
        transaction run, or right after a look-up of your own found nothing. ``since`` bounds the
        non-contract look-up window (default ``nc_lookback_hours``). Raises
        :class:`CanadaPostPermanentError` for what the carrier refuses, :class:`CreateInDoubt` when an
        ambiguous answer's look-up found nothing (wait, then look again before any new POST),
        :class:`ShipmentOutcomeUnknown` when the look-up itself failed; in neither case was a second
        POST made after the ambiguous one. A shipment found by a look-up instead of bought by this call
        comes back with ``adopted=True``.
        """
        wire = self._wire()
        started = self._now()
        window_start = since or (started - timedelta(hours=self.config.nc_lookback_hours))
        crid = request.customer_request_id
        if look_up_first:
            found = self._recover(wire, request, window_start, first=True)
            if found is not None:
                return replace(found, adopted=True)
        call = wire.create(request, self.config.group_for(request, self._now()))
        last: CanadaPostError | None = None
        for attempt in range(1, self.create_attempts + 1):
            try:
                answer = self._send(call)  # exactly one POST (plus one after a portal 401 refresh)
                info = wire.parse_shipment_info(answer, call)
                if info.customer_request_id is None:
                    info = replace(info, customer_request_id=crid)
                log.info(
                    "created shipment %s for %s (pin %s)", info.shipment_id, crid, info.tracking_pin
                )
                if not wire.contract:  # what we just bought, a later look-up need not read
                    nclookup.remember_created(self.nc_seen, cpxml.nc_references(request), info)
                return info
            except CanadaPostPermanentError:
                raise
            except CanadaPostRetryableError as exc:
                last = exc
                log.warning(
                    "create-shipment %s attempt %d: %s (%s); looking it up before any new POST",
                    crid, attempt, "not processed" if create_not_processed(exc) else "outcome unknown", exc,
                )
            self._sleep(backoff(self.retry_policy, attempt, last.retry_after if last else None))
            try:
                found = self._recover(wire, request, min(window_start, started - timedelta(minutes=10)))
            except CanadaPostAuthError:
                raise
            except (CanadaPostRetryableError, CanadaPostPermanentError) as exc:
                # A refused look-up (400/404...) proves nothing either: the POST before it may have
                # bought the label. Never let it read as "the create was refused" (a caller would
                # take the intent for empty); the outcome stays unknown, to be looked up again.
                raise ShipmentOutcomeUnknown(
                    "create-shipment outcome unknown and the look-up failed; no second POST was made",
                    request_id=crid, status=exc.status, messages=exc.messages,
                ) from exc
            if found is not None:
                log.info("adopted shipment %s for %s after a lost answer", found.shipment_id, crid)
                return replace(found, adopted=True)
            if not create_not_processed(last):
                # Canada Post may have acted on it: a look-up this soon proves nothing (issue 12 item 4).
                raise CreateInDoubt(
                    "create-shipment outcome unknown and the look-up right after found nothing; no second "
                    "POST was made: look it up again after create_recheck_seconds",
                    request_id=crid, status=last.status, messages=last.messages,
                ) from last
        assert last is not None
        # Every attempt was refused before processing (throttled, never connected) and the last look-up
        # found nothing: a plain transient failure, safe to retry later.
        raise last

    def find_shipments(
        self,
        customer_request_id: str | None = None,
        tracking_pin: str | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[ShipmentInfo]:
        """Shipments with this customer-request-id or tracking PIN (voided/expired ones are skipped).

        Non-contract by customer-request-id searches ``since``..``until`` (default: the last
        ``nc_lookback_hours``) and matches each shipment's references.
        """
        if bool(customer_request_id) == bool(tracking_pin):
            raise ValueError("give exactly one of customer_request_id or tracking_pin")
        wire = self._wire()
        if tracking_pin:
            return self._resolve(wire, wire.list_by_pin(tracking_pin))
        assert customer_request_id is not None
        if wire.contract:
            call = wire.list_by_request_id(customer_request_id)
            infos = self._resolve(wire, call)
            return [
                i if i.customer_request_id else replace(i, customer_request_id=customer_request_id)
                for i in infos
                if i.customer_request_id in (None, customer_request_id)
            ]
        now = self._now()
        start = since or (now - timedelta(hours=self.config.nc_lookback_hours))
        return self._find_nc(wire, customer_request_id, start, until or (now + NC_WINDOW_FUTURE))

    def get_shipment(self, shipment: str | ShipmentInfo) -> ShipmentInfo:
        """A shipment by id or by its ``self`` link."""
        wire = self._wire()
        call = wire.get_shipment(shipment)
        return self._get(call, lambda a: wire.parse_shipment_info(a, call))

    def get_shipment_details(self, shipment: str | ShipmentInfo) -> ShipmentDetails:
        wire = self._wire()
        call = wire.get_details(shipment)
        return self._get(call, lambda a: wire.parse_details(a, call))

    def get_label(self, link: str, media_type: str | None = None) -> tuple[bytes, str]:
        """The label artifact at ``link`` as (bytes, content type). A 202 ("not ready") waits at least
        ``artifact_wait`` (≥ 1 s in production) and asks again, within the retry policy's bounds."""
        wire = self._wire()
        accept = media_type or self.config.label_media_type
        call = wire.artifact(link, accept)

        def label(answer: Answer) -> tuple[bytes, str]:
            content_type = answer.content_type or accept
            # Inside the retry loop: an empty or cut-off artifact is fetched again, never handed on.
            # Only transport integrity here (the end marker of the format); orderflow.labels validates
            # the label itself (pages, size, PIN).
            if not answer.body or not artifact_complete(answer.body, content_type):
                raise _MalformedAnswer("label artifact empty or truncated", status=answer.status,
                                       request_id=call.ref)
            return answer.body, content_type

        return self._get(call, label)

    def void_shipment(self, shipment: str | ShipmentInfo) -> None:
        """Void an untransmitted contract shipment. Returns only on 204.

        Raises :class:`VoidNotFound` on 404 (unknown, or already voided: NOT a success by this call),
        :class:`RefundRequired` when Canada Post refuses (8064, transmitted) or the shipment is
        non-contract (no void exists), :class:`CanadaPostRetryableError` when the answer was lost (the
        void may or may not have happened: check with :meth:`get_shipment`).
        """
        wire = self._wire()
        if not wire.contract or (isinstance(shipment, ShipmentInfo) and not shipment.contract):
            raise RefundRequired(
                "non-contract shipments cannot be voided; request a refund",
                request_id=shipment_ref(shipment),
            )
        call = wire.void(shipment)
        try:
            answer = self._send(call, retry="unsent")
        except CanadaPostNotFoundError as exc:
            raise VoidNotFound(
                "void answered 404: shipment unknown or already voided; NOT voided by this call",
                status=exc.status, messages=exc.messages, request_id=exc.request_id, body=exc.body,
            ) from exc
        if answer.status != 204:
            # 200 with a body or any other 2xx is not the documented success: never assume voided.
            raise CanadaPostRetryableError(
                "void answered without 204; not known to be voided", status=answer.status,
                request_id=call.ref, body=answer.body.decode("utf-8", "replace"),
            )
        log.info("voided shipment %s", call.ref)

    def request_refund(self, shipment: str | ShipmentInfo, email: str | None = None) -> RefundInfo:
        """Ask for a refund of a transmitted (or non-contract) shipment. A repeat (409/7292) returns
        ``RefundInfo(already_requested=True)`` instead of failing."""
        wire = self._wire()
        to = email or self.config.refund_email
        if not to:
            raise ValueError("request_refund needs an email (argument or the refund_email extra)")
        call = wire.refund(shipment, to)
        try:
            return self._send(call, retry="free", parse=lambda a: wire.parse_refund(a, call))
        except RefundAlreadyRequested:
            log.info("refund for %s was already requested", call.ref)
            return RefundInfo(service_ticket_id="", already_requested=True)

    def transmit(self, group_ids: list[str], *, customer_reference: str | None = None) -> TransmitResult:
        """Transmit (manifest) these contract groups. Not retried after a doubtful answer (a repeat may
        create a second manifest); throttling and unsent requests are retried. ``customer_reference``
        (≤ 12 characters) comes back in the manifest's details."""
        wire = self._wire()
        if not wire.contract:
            raise CanadaPostPermanentError("transmit is for contract shipping only (no contract_id)")
        call = wire.transmit(list(group_ids), customer_reference)
        return wire.parse_manifests(self._send(call, retry="unsent"), call)

    def read_manifest_document(self, link: str | None, root: str, params: dict[str, str] | None = None) -> Any:
        """One manifest-v8 read as an element, on either transport: Get Manifests by date (``link``
        None, ``params`` start/end), or a manifest, its details or its shipments by link. The pure
        parsers of :mod:`~orderflow.hooks.canadapost_manifest` read it."""
        wire = self._wire()
        url = link if link and "://" in link else wire.manifests_url()
        accept = cpxml.MT_MANIFEST if isinstance(wire, XmlWire) else cpjson.MT_JSON
        call = Call(f"get_{root}", "GET", url, "C", accept, params=params, ref=short_ref(url))
        return self._get(call, lambda a: wire.root(a, call, root, cpxml.NS_MANIFEST))

    def track(self, pin: str) -> TrackingSummary:
        """The PIN's latest event. A PIN not scanned yet (``004`` No Pin History, ``007`` No Delivery
        Information) gives a summary without event (``event_type`` None), not an error."""
        wire = self._wire()
        call = wire.track(pin)
        try:
            return self._get(call, lambda a: wire.parse_tracking(a, call))
        except CanadaPostPermanentError as exc:
            if set(exc.codes) & NO_TRACKING_YET_CODES:
                return TrackingSummary(pin=pin)
            raise

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's "Test" button: authenticate (portal: a token request) and look up shipments for a
        made-up request id (proves credentials, customer number and mobo; buys nothing). One attempt, and
        a message that says what to fix (orderflow.hooks.connection_test)."""
        from orderflow.hooks.connection_test import CANADAPOST, QUICK_RETRY, canadapost_success, explain_failure

        policy, self.retry_policy = self.retry_policy, QUICK_RETRY
        try:
            wire = self._wire()
            if self.config.api == "portal":
                self._invalidate_token()  # the test proves the token request itself
            if wire.contract:
                self._get(wire.list_by_request_id("orderflow-connection-test"), wire.parse_list)
            else:
                now = self._now()
                self._get(wire.list_nc_window(now - timedelta(minutes=5), now), wire.parse_list)
        except Exception as exc:  # the UI shows the message; a connection test never raises
            base_url = self._config.base_url if self._config else None
            return False, explain_failure(CANADAPOST, base_url, exc)
        finally:
            self.retry_policy = policy
        return True, canadapost_success(self.config)

    # ----------------------------------------------------------------------------------------
    # recovery
    # ----------------------------------------------------------------------------------------

    def _recover(
        self, wire: Wire, request: ShipmentRequest, window_start: datetime, *, first: bool = False
    ) -> ShipmentInfo | None:
        crid = request.customer_request_id
        if wire.contract:
            found = [
                i
                for i in self._resolve(wire, wire.list_by_request_id(crid))
                if i.customer_request_id in (None, crid)
            ]
        else:
            # The window's end is far in the future on purpose: a worker clock behind Canada Post's must not
            # hide the shipment it just bought (a missed match would buy a second label).
            found = self._find_nc(wire, crid, window_start, self._now() + NC_WINDOW_FUTURE)
        found = [i if i.customer_request_id else replace(i, customer_request_id=crid) for i in found]
        if len(found) > 1:
            # Should never happen (we never POST twice without a look-up); say it loudly, adopt one.
            log.error(
                "%d shipments exist for %s: %s; adopting %s",
                len(found), crid, [i.shipment_id for i in found], found[0].shipment_id,
            )
        if found and first:
            log.info("shipment %s already exists for %s; adopting it", found[0].shipment_id, crid)
        return found[0] if found else None

    def _resolve(self, wire: Wire, list_call: Call) -> list[ShipmentInfo]:
        """Get Shipments items → ShipmentInfo (following links; 404 = voided or expired → skipped)."""
        infos = [self._read_listed(wire, item) for item in self._get(list_call, wire.parse_list)]
        return [info for info in infos if info is not None]

    def _read_listed(self, wire: Wire, item: str | ShipmentInfo) -> ShipmentInfo | None:
        """One listed shipment (its link followed); None when it is gone or no longer a usable label."""
        if isinstance(item, ShipmentInfo):
            info = item
        else:
            call = wire.get_shipment(item)
            try:
                info = self._get(call, lambda a, c=call: wire.parse_shipment_info(a, c))
            except CanadaPostNotFoundError:
                log.info("listed shipment %s is gone (voided or expired)", call.ref)
                return None
        if (info.status or "").strip().lower() in VOIDED_STATUSES:
            log.info("listed shipment %s is %s: skipped", info.shipment_id, info.status)
            return None
        return info

    def _find_nc(self, wire: Wire, crid: str, start: datetime, end: datetime) -> list[ShipmentInfo]:
        """Non-contract: list the window, read only the shipments ``nc_seen`` has not seen, match refs."""

        def read_details(info: ShipmentInfo) -> ShipmentDetails | None:
            call = wire.get_details(info)
            try:
                return self._get(call, lambda a, c=call: wire.parse_details(a, c))
            except CanadaPostNotFoundError:
                return None

        return nclookup.find_by_reference(
            crid, self._get(wire.list_nc_window(start, end), wire.parse_list),
            read_info=lambda href: self._read_listed(wire, href), read_details=read_details, seen=self.nc_seen,
        )

    # ----------------------------------------------------------------------------------------
    # sending
    # ----------------------------------------------------------------------------------------

    def _get(self, call: Call, parse: Callable[[Answer], T]) -> T:
        """An idempotent read, parsed inside the retry loop (a truncated body is fetched again)."""
        return self._send(call, retry="free", parse=parse)

    @overload
    def _send(self, call: Call, retry: str = ..., parse: None = None) -> Answer: ...

    @overload
    def _send(self, call: Call, retry: str = ..., *, parse: Callable[[Answer], T]) -> T: ...

    def _send(self, call: Call, retry: str = "none", parse: Callable[[Answer], Any] | None = None) -> Any:
        """Send ``call`` and parse the answer. ``retry``: ``"free"`` (idempotent: any retryable error,
        malformed answers included), ``"unsent"`` (only throttling and connect failures, where the
        server did not act) or ``"none"``."""

        def once() -> Any:
            answer = self._send_once(call)
            return parse(answer) if parse is not None else answer

        if retry == "none":
            return once()

        def retryable(exc: BaseException) -> bool:
            if retry == "free":
                return is_retryable(exc)
            return isinstance(exc, (CanadaPostThrottledError, _NotSent))

        for attempt in retrying(
            self.retry_policy,
            is_retryable=retryable,
            retry_after=lambda exc: getattr(exc, "retry_after", None),
            sleep=self._sleep,
        ):
            with attempt:
                return once()
        raise AssertionError("unreachable: retrying re-raises")  # pragma: no cover

    def _send_once(self, call: Call) -> Answer:
        """One request (two for a portal 401: refresh the token, then resend once)."""
        config = self._load_config()
        answer = self._http(call)
        if answer.status == 401 and config.api == "portal":
            log.info("%s: 401 with a cached token; refreshing it and retrying once", call.op)
            self._invalidate_token()
            answer = self._http(call)
        return self._check(call, answer)

    def _http(self, call: Call) -> Answer:
        config = self._load_config()
        if not same_origin(call.url, config.base_url):
            raise CanadaPostForeignLinkError.of(call.op, call.url, config.base_url, call.ref)
        session = self.get_conn()
        if call.op in _CREATE_OPS:
            # Per-operation budget first, so a create waiting for its slot holds no group A slot.
            self._limiter(CREATE_LIMIT_KEY).acquire()
        self._limiter(call.group).acquire()
        headers = {"Accept": call.accept}
        if call.content_type:
            headers["Content-Type"] = call.content_type
        if config.api == "portal":
            headers["Authorization"] = f"Bearer {self._token()}"
            # IBM API Connect gateways identify the application by this header on every call.
            headers["X-IBM-Client-Id"] = config.login
        try:
            response = session.request(
                call.method, call.url, params=call.params, data=call.body, headers=headers,
                timeout=self.timeout,
            )
        except requests.ConnectTimeout as exc:
            raise _NotSent(f"{call.op}: connect timeout", request_id=call.ref) from exc
        except requests.Timeout as exc:
            raise CanadaPostRetryableError(f"{call.op}: timed out waiting for the answer",
                                           request_id=call.ref) from exc
        except requests.ConnectionError as exc:
            if never_connected(exc):
                raise _NotSent(f"{call.op}: could not connect", request_id=call.ref) from exc
            raise CanadaPostRetryableError(f"{call.op}: connection failed or dropped",
                                           request_id=call.ref) from exc
        except requests.RequestException as exc:
            raise CanadaPostRetryableError(f"{call.op}: {type(exc).__name__}", request_id=call.ref) from exc
        ctype = (response.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        log.debug("%s %s -> %s", call.op, call.ref or "", response.status_code)
        return Answer(response.status_code, response.content, ctype, response.headers)

    def _check(self, call: Call, answer: Answer) -> Answer:
        if answer.status == 202 and call.op == "get_label":
            wait = max(self.artifact_wait, parse_retry_after(answer.headers.get("Retry-After")) or 0.0)
            raise _ArtifactNotReady("label not ready yet (202)", status=202, request_id=call.ref,
                                    retry_after=wait)
        if 200 <= answer.status < 300:
            return answer
        messages = self._wire().messages(answer)
        text = answer.body[:2048].decode("utf-8", "replace")
        cls = exception_for(answer.status, messages, text)
        retry_after = parse_retry_after(answer.headers.get("Retry-After"))
        summary = f"{call.op} failed"
        if cls is CanadaPostThrottledError:
            # Canada Post blocks an over-limit key for up to a minute: never come back sooner.
            retry_after = max(retry_after or 0.0, self.throttle_wait)
            summary = f"{call.op} throttled (Rejected by SLM Monitor / 429)"
        elif (
            self.config.api == "portal" and answer.status == 400 and cpjson.rejects_field_name(messages)
        ):
            cls = CanadaPostFieldMappingError
            summary = (
                f"{call.op}: the Developer Portal rejected a JSON field name; this may be an orderflow "
                "field-mapping problem (names derived from the XML v8 schema), not the seller's data"
            )
        err = cls(summary, status=answer.status, messages=messages, request_id=call.ref, body=text,
                  retry_after=retry_after)
        if issubclass(cls, CanadaPostAuthError):
            err.connection_hint = (f"Canada Post refused the credentials (HTTP {answer.status}): check the "
                                   "Connection's login / password and customer_number")
        elif answer.status in (404, 405) and not messages and not answer.content_type.endswith(("xml", "json")):
            # Canada Post's own "not found" carries its messages document; a bare page comes from another
            # server: the Connection's host is not the API's base URL.
            err.connection_hint = (f"HTTP {answer.status} from a server that is not Canada Post's API: check "
                                   "the Connection's host (base URL)")
        raise err

    def _limiter(self, group: str) -> RateLimiter:
        config = self._load_config()
        return RateLimiter.shared(f"canadapost:{config.key_tag}:{group}", config.rate_limits.get(group))

    # ----------------------------------------------------------------------------------------
    # portal tokens
    # ----------------------------------------------------------------------------------------

    def _token_key(self) -> tuple[str, str, str]:
        # The secret's hash is part of the key: a token issued for the old secret must not answer for a
        # changed one (the connection test of a wrong secret would pass on the cached token).
        config = self._load_config()
        return (config.token_url, config.login, hashlib.sha256(config.password.encode()).hexdigest()[:16])

    def _invalidate_token(self) -> None:
        with self._tokens_lock:
            self._tokens.pop(self._token_key(), None)

    def _token(self) -> str:
        key = self._token_key()
        with self._tokens_lock:
            token = self._tokens.get(key)
            if token is not None and self._clock() < token.expires_at - self.token_refresh_margin:
                return token.value
        fresh = self._fetch_token()
        with self._tokens_lock:
            self._tokens[key] = fresh
        return fresh.value

    def _fetch_token(self) -> _Token:
        config = self._load_config()
        session = self.get_conn()
        headers = {"Accept": "application/json"}
        auth = None
        if config.portal_auth in ("both", "headers"):
            headers["X-IBM-Client-Id"] = config.login
            headers["X-IBM-Client-Secret"] = config.password
        if config.portal_auth in ("both", "basic"):
            auth = (config.login, config.password)
        data = {"grant_type": "client_credentials", "scope": "merchant"}

        def once() -> _Token:
            RateLimiter.shared(f"canadapost:{config.key_tag}:token", None).acquire()
            try:
                response = session.post(config.token_url, data=data, headers=headers, auth=auth,
                                        timeout=self.timeout)
            except requests.RequestException as exc:
                raise CanadaPostRetryableError(f"token: {type(exc).__name__}") from exc
            if response.status_code != 200:
                messages = cpjson.parse_messages(response.content)
                text = response.content[:2048].decode("utf-8", "replace")
                cls = exception_for(response.status_code, messages, text)
                if not issubclass(cls, CanadaPostRetryableError):
                    # Any refusal of the token request (a wrong URL's 404 included) is about the
                    # Connection: no order can be at fault for it.
                    cls = CanadaPostAuthError
                err = cls("token request refused", status=response.status_code, messages=messages,
                          body=text, retry_after=parse_retry_after(response.headers.get("Retry-After")))
                if cls is CanadaPostAuthError:
                    what = ("the client id / secret (login / password)" if response.status_code in (400, 401, 403)
                            else "the host (base URL) or token_url")
                    err.connection_hint = (f"the token endpoint {config.token_url} answered HTTP "
                                           f"{response.status_code}: check the Connection's {what}")
                raise err
            try:
                obj = response.json()
                value = str(obj["access_token"])
                expires_in = float(obj.get("expires_in") or 3600)
            except (ValueError, KeyError, TypeError) as exc:
                raise _MalformedAnswer("token answer is not a token") from exc
            mask_secret(value)
            return _Token(value, self._clock() + expires_in)

        for attempt in retrying(
            self.retry_policy, is_retryable=is_retryable,
            retry_after=lambda exc: getattr(exc, "retry_after", None), sleep=self._sleep,
        ):
            with attempt:
                return once()
        raise AssertionError("unreachable")  # pragma: no cover
