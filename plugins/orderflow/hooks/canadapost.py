"""Canada Post hook: the thin I/O layer that sends the wire's calls and keeps the money rules.

The rest lives in pure modules beside this one: the Connection's settings in
:mod:`~orderflow.hooks.canadapost_settings`, the calls and answer parsers of both transports in
:mod:`~orderflow.hooks.canadapost_wire` (documents by :mod:`~orderflow.hooks.canadapost_xml` and
:mod:`~orderflow.hooks.canadapost_json`), the model in :mod:`~orderflow.hooks.canadapost_model`, the
exceptions in :mod:`~orderflow.hooks.canadapost_errors` (the public names are re-exported here); the
sending (session, limiter, retries, portal tokens) in its base, :mod:`~orderflow.hooks.canadapost_transport`,
and the look-ups in :mod:`~orderflow.hooks.canadapost_lookup`. Here: the operations and their money rules.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from orderflow.hooks import canadapost_nc_lookup as nclookup
from orderflow.hooks import canadapost_xml as cpxml
from orderflow.hooks._http import (
    RetryPolicy,
    backoff,
)
from orderflow.hooks.canadapost_errors import (
    CanadaPostAuthError,
    CanadaPostError,
    CanadaPostFieldMappingError,
    CanadaPostNotFoundError,
    CanadaPostPermanentError,
    CanadaPostRetryableError,
    CanadaPostThrottledError,
    CreateInDoubt,
    RefundAlreadyRequested,
    RefundRequired,
    ShipmentOutcomeUnknown,
    VoidNotFound,
    create_not_processed,
)
from orderflow.hooks.canadapost_lookup import NC_WINDOW_FUTURE, ShipmentLookup
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
from orderflow.hooks.canadapost_settings import CanadaPostSettings
from orderflow.hooks.canadapost_transport import CanadaPostTransport, as_answer
from orderflow.hooks.canadapost_wire import (
    NO_TRACKING_YET_CODES,
    VOIDED_STATUSES,
    Wire,
    shipment_ref,
)
from orderflow.hooks.connection_forms import CANADAPOST_CONNECTION_TYPE, legacy_field_behaviour

__all__ = [
    "VOIDED_STATUSES",
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

# Not built on airflow.providers.http's HttpHook (in the lock): with a Canada Post Connection it changes
# behaviour (checked with HttpHook 6.3.0). Its get_conn sends every Connection extra as a request header
# (customer number, the sender's address and phone; the rate_limits object fails every request with
# InvalidHeader); a login gives the session HTTP Basic auth, which replaces the portal's bearer token and
# the token call's portal_auth="headers"; a port lands after the path (https://host/base:8443); each
# get_conn builds a new session with a 10-connection pool (ours: one session for the step's 16 threads,
# 64 connections, no urllib3 retries). Overriding all that would keep nothing of it but its import
# (aiohttp and the async hook: 0.2 to 0.3 s more per task process here, 1 s under load). What it would give is
# here already (CanadaPostTransport: Basic auth for the XML gateway, the Connection read once; and
# test_connection below), beside what it lacks: the money-safe retry policy, the shared limiter, tokens.
class CanadaPostHook(CanadaPostTransport):
    """Canada Post shipping: labels (contract v8 or non-contract v4), void, refund, manifest, tracking.

    Two transports behind one API, chosen by the Connection (``xml`` gateway or ``portal``: see
    :mod:`~orderflow.hooks.canadapost_wire`); operators never see which. The Connection
    (``canadapost_default``) is described in :mod:`~orderflow.hooks.canadapost_settings`.

    **Money rules.** :meth:`create_shipment` never re-POSTs blindly: after any doubtful outcome
    (timeout, dropped connection, 5xx, throttle, malformed answer) it first looks the shipment up by
    ``customer_request_id`` (contract: Get Shipments ``?requestId=``; non-contract: a time window whose
    shipments are matched on ``customer-ref-1/2``, reading only what ``nc_seen`` has not seen:
    :mod:`~orderflow.hooks.canadapost_nc_lookup`) and adopts what it finds. It POSTs again (at most
    ``create_attempts`` times) only after answers that prove the create was not processed (throttled,
    never connected); after an ambiguous one whose look-up finds nothing it raises
    :class:`CreateInDoubt` and never POSTs again in that call (the caller waits
    ``create_recheck_seconds`` before a look-up that may allow a new POST). Reads retry freely
    (429/5xx/connection errors, ``Retry-After`` honoured, jittered backoff, "Rejected by SLM Monitor"
    waits ``throttle_wait`` >= 60 s). A void is never reported done on anything but 204.
    """

    conn_name_attr = "canadapost_conn_id"
    default_conn_name = "canadapost_default"
    conn_type = "canadapost"
    hook_name = "Canada Post"

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

    # -- Airflow UI ------------------------------------------------------------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Form behaviour in the legacy hook format; the provider's form is
        :data:`orderflow.hooks.connection_forms.CANADAPOST_CONNECTION_TYPE`."""
        return legacy_field_behaviour(CANADAPOST_CONNECTION_TYPE)

    # -- public operations -----------------------------------------------------------------------

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
        call = wire.create(request, self.config.group_for(request, self._now))
        last: CanadaPostError | None = None
        for attempt in range(1, self.create_attempts + 1):
            try:
                # exactly one POST (plus one after a portal 401 refresh)
                info = self._send(call, "none", wire.parse_shipment_info)
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
        lookup = self._lookup(wire)
        if tracking_pin:
            return lookup.by_pin(tracking_pin)
        assert customer_request_id is not None
        if wire.contract:
            return lookup.by_request_id(customer_request_id)
        now = self._now()
        start = since or (now - timedelta(hours=self.config.nc_lookback_hours))
        return lookup.by_request_id(customer_request_id, start, until or (now + NC_WINDOW_FUTURE))

    def get_shipment(self, shipment: str | ShipmentInfo) -> ShipmentInfo:
        """A shipment by id or by its ``self`` link."""
        wire = self._wire()
        call = wire.get_shipment(shipment)
        return self._get(call, wire.parse_shipment_info)

    def get_shipment_details(self, shipment: str | ShipmentInfo) -> ShipmentDetails:
        wire = self._wire()
        call = wire.get_details(shipment)
        return self._get(call, wire.parse_details)

    def get_label(self, link: str, media_type: str | None = None) -> tuple[bytes, str]:
        """The label artifact at ``link`` as (bytes, content type). A 202 ("not ready") waits at least
        ``artifact_wait`` (≥ 1 s in production) and asks again, within the retry policy's bounds."""
        wire = self._wire()
        call = wire.artifact(link, media_type or self.config.label_media_type)
        return self._get(call, wire.parse_label)  # inside the retry loop: a cut-off artifact is fetched again

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
            answer = self._send(call, "unsent", as_answer)
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
            return self._send(call, "free", wire.parse_refund)
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
        return self._send(call, "unsent", wire.parse_manifests)

    def read_manifest_document(self, link: str | None, root: str, params: dict[str, str] | None = None) -> Any:
        """One manifest-v8 read as an element, on either transport: Get Manifests by date (``link``
        None, ``params`` start/end), or a manifest, its details or its shipments by link. The pure
        parsers of :mod:`~orderflow.hooks.canadapost_manifest` read it."""
        wire = self._wire()
        return self._get(wire.read_manifest(link, root, params), lambda a, c: wire.root(a, c, root, cpxml.NS_MANIFEST))

    def track(self, pin: str) -> TrackingSummary:
        """The PIN's latest event. A PIN not scanned yet (``004`` No Pin History, ``007`` No Delivery
        Information) gives a summary without event (``event_type`` None), not an error."""
        wire = self._wire()
        call = wire.track(pin)
        try:
            return self._get(call, wire.parse_tracking)
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

    # -- recovery: what a create may have bought (canadapost_lookup) --------------------------------

    def _lookup(self, wire: Wire) -> ShipmentLookup:
        return ShipmentLookup(wire, self._get, self.nc_seen, self._now)

    def _recover(
        self, wire: Wire, request: ShipmentRequest, window_start: datetime, *, first: bool = False
    ) -> ShipmentInfo | None:
        crid = request.customer_request_id
        found = self._lookup(wire).by_request_id(crid, window_start)
        if len(found) > 1:
            # Should never happen (we never POST twice without a look-up); say it loudly, adopt one.
            log.error(
                "%d shipments exist for %s: %s; adopting %s",
                len(found), crid, [i.shipment_id for i in found], found[0].shipment_id,
            )
        if found and first:
            log.info("shipment %s already exists for %s; adopting it", found[0].shipment_id, crid)
        return found[0] if found else None
