"""The Canada Post sandbox's state and business rules, shared by the XML and the JSON flavours.

A shipment created through the Developer Portal's JSON is the same record the XML gateway finds
(and the other way round): the flavour only decides the wire format and the links rendered. All
rules that cost money (void, refund, transmit) live here, once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from lxml import etree

from sandbox.canadapost import pricing
from sandbox.canadapost.wire import CODE_SERVER, NS_MANIFEST, NS_SHIPMENT, CPError, Message

EASTERN = ZoneInfo("America/Toronto")

CONTRACT = "contract"
NONCONTRACT = "noncontract"
XML = "xml"
PORTAL = "portal"

CREATED = "created"
TRANSMITTED = "transmitted"
VOIDED = "voided"  # internal: the gateway answers 404 for a voided shipment

METHODS_OF_PAYMENT = ("Account", "CreditCard", "SupplierAccount")


@dataclass
class Shipment:
    shipment_id: str
    kind: str  # CONTRACT | NONCONTRACT
    flavour: str  # XML | PORTAL: the API it was created through (for inspection only)
    mailed_by: str
    mobo: str
    tracking_pin: str
    created_at: float
    request_xml: str  # the validated request document (v8 shipment or v4 non-contract-shipment)
    price: dict
    label: dict  # what the label prints (addresses, service, weight, references)
    final_shipping_point: str
    artifact_key: str
    artifact_id: str
    customer_request_id: str | None = None
    group_id: str | None = None
    transmit_shipment: bool = False
    provide_pricing_info: bool = False
    encoding: str = "PDF"
    status: str = CREATED
    transmitted_at: float | None = None
    voided_at: float | None = None
    manifest_id: str | None = None
    po_number: str | None = None
    refund: dict | None = None  # {"service-ticket-id", "service-ticket-date", "email", "requested_at"}
    label_fetches: int = 0
    first_label_fetch_at: float | None = None
    # The visibility-delay fault: until then (sandbox clock) no search lists the shipment (by
    # request id, PIN, group or time window, on either transport); reads by id still find it.
    visible_at: float | None = None

    def visible(self, now: float) -> bool:
        return self.visible_at is None or self.visible_at <= now

    @property
    def active(self) -> bool:
        return self.status != VOIDED

    def tracking_start(self) -> float | None:
        """When the parcel can first be scanned: at transmit for grouped contract shipments;
        at creation for non-contract and ``transmit-shipment`` ones (no manifest needed)."""
        if self.status == VOIDED:
            return None
        if self.kind == NONCONTRACT or self.transmit_shipment:
            return self.created_at
        return self.transmitted_at


@dataclass
class Manifest:
    manifest_id: str
    po_number: str
    mailed_by: str
    mobo: str
    group_ids: list[str]
    shipment_ids: list[str]
    created_at: float
    request_xml: str
    artifact_key: str
    artifact_id: str
    method_of_payment: str
    final_shipping_point: str
    customer_reference: str | None = None
    flavour: str = XML


@dataclass
class TrackingEvent:
    at: float
    event_type: str
    identifier: str
    description: str
    location: str
    province: str


def _digits(seed: str, n: int) -> str:
    value = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    return str(value % (10**n)).zfill(n)


def _luhn_digit(number: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def same_customer(a: str, b: str) -> bool:
    """Customer numbers are 1-10 digits and may be zero-padded to 10 in paths."""
    return a.lstrip("0") == b.lstrip("0")


class Store:
    """All sandbox state behind one lock (many concurrent clients, a thread per connection)."""

    def __init__(self, seed: int = 0, clock: Callable[[], float] = time.time) -> None:
        self.lock = threading.RLock()
        self.seed = seed
        self._clock = clock
        self.clock_offset = 0.0
        self.shipments: dict[str, Shipment] = {}
        self.manifests: dict[str, Manifest] = {}
        self.tokens: dict[str, dict] = {}
        self.counters: dict[str, int] = {}
        self.pins: set[str] = set()
        # Indexes for the hot look-ups (crash recovery by customer-request-id, tracking by PIN,
        # artifacts): benchmarks create thousands of shipments and a scan per call would be quadratic.
        self._by_crid: dict[str, list[str]] = {}
        self._by_pin: dict[str, str] = {}
        self._by_artifact: dict[tuple[str, str], tuple[str, str]] = {}
        # Seconds between tracking events (induction, in transit, out for delivery, delivered).
        self.tracking_step_s = 60.0

    # -- time and identifiers --------------------------------------------------------------

    def now(self) -> float:
        return self._clock() + self.clock_offset

    def _next(self, kind: str) -> int:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return self.counters[kind]

    def _new_shipment_id(self) -> str:
        while True:
            candidate = "1" + _digits(f"{self.seed}:shipment:{self._next('shipment')}", 17)
            if candidate not in self.shipments:
                return candidate

    def _new_pin(self) -> str:
        # The real development environment answers every create with the same PIN
        # (123456789012). The sandbox gives each parcel its own 16-digit PIN (15 digits + a Luhn
        # check digit, deterministic for a seed) so tests can tell parcels apart and catch a label
        # attached to the wrong order.
        while True:
            body = "70" + _digits(f"{self.seed}:pin:{self._next('pin')}", 13)
            pin = body + _luhn_digit(body)
            if pin not in self.pins:
                self.pins.add(pin)
                return pin

    def _new_artifact(self) -> tuple[str, str]:
        n = self._next("artifact")
        key = hashlib.sha256(f"{self.seed}:artifact-key:{n}".encode()).hexdigest()[:16]
        return key, "1" + _digits(f"{self.seed}:artifact:{n}", 10)

    def new_token(self, client_id: str, lifetime_s: float) -> tuple[str, float]:
        token = secrets.token_urlsafe(32)
        now = self.now()
        with self.lock:
            self.tokens[token] = {"client_id": client_id, "issued_at": now, "expires_at": now + lifetime_s}
        return token, lifetime_s

    def token_valid(self, token: str) -> bool:
        with self.lock:
            info = self.tokens.get(token)
            return info is not None and info["expires_at"] > self.now()

    def expire_tokens(self) -> int:
        with self.lock:
            now = self.now()
            for info in self.tokens.values():
                info["expires_at"] = min(info["expires_at"], now)
            return len(self.tokens)

    # -- creation ------------------------------------------------------------------------

    def create_shipment(
        self,
        doc: etree._Element,
        *,
        kind: str,
        flavour: str,
        mailed_by: str,
        mobo: str,
        contract_id: str | None,
        require_dimensions: bool,
        hidden_for_s: float = 0.0,
    ) -> Shipment:
        """Apply the semantic rules the XSD cannot express, then record the shipment.

        ``doc`` is already valid against the XSD of its kind. ``hidden_for_s`` > 0 (the
        visibility-delay fault) keeps the new shipment out of every search for that long.
        """
        ns = etree.QName(doc).namespace
        f = _Finder(doc, ns)
        errors: list[Message] = []
        service_code = f.text("delivery-spec/service-code") or ""
        if service_code not in pricing.SERVICES:
            errors.append(Message(CODE_SERVER, f"The service code '{service_code}' is not valid."))
        if kind == CONTRACT:
            contract = f.text("delivery-spec/settlement-info/contract-id")
            if not contract:
                errors.append(Message("2206", "Contract Number is a required field"))
            elif contract_id is not None and contract.lstrip("0") != contract_id.lstrip("0"):
                errors.append(
                    Message(CODE_SERVER, f"Contract number {contract} is not valid for customer {mailed_by}.")
                )
            method = f.text("delivery-spec/settlement-info/intended-method-of-payment")
            if method not in METHODS_OF_PAYMENT:
                errors.append(Message("1711", f"The method of payment '{method}' is not valid."))
            if not (
                f.text("requested-shipping-point") or f.text("shipping-point-id") or f.text("cpc-pickup-indicator")
            ):
                errors.append(
                    Message(
                        CODE_SERVER,
                        "requested-shipping-point is required unless shipping-point-id or "
                        "cpc-pickup-indicator is given.",
                    )
                )
        country = (f.text("delivery-spec/destination/address-details/country-code") or "").upper()
        postal = (f.text("delivery-spec/destination/address-details/postal-zip-code") or "").strip()
        province = (f.text("delivery-spec/destination/address-details/prov-state") or "").strip().upper()
        if country in ("CA", "US"):
            if not postal:
                errors.append(Message(CODE_SERVER, "A postal/zip code is required for CA and US destinations."))
            elif country == "CA" and not _is_ca_postal(postal):
                errors.append(Message(CODE_SERVER, f"The destination postal code '{postal}' is not valid (A9A9A9)."))
            if not province:
                errors.append(Message(CODE_SERVER, "prov-state is required for CA and US destinations."))
            if not f.text("delivery-spec/destination/address-details/city"):
                errors.append(Message(CODE_SERVER, "city is required for CA and US destinations."))
            if not f.text("delivery-spec/destination/address-details/address-line-1"):
                errors.append(Message(CODE_SERVER, "address-line-1 is required for CA and US destinations."))
        if country and country != "CA" and f.find("delivery-spec/customs") is None:
            errors.append(Message(CODE_SERVER, "Customs information is required for a non-Canadian destination."))
        dims = _dimensions(f)
        if require_dimensions and dims is None and f.text("delivery-spec/parcel-characteristics/document") != "true":
            # 9162 per the sheet (unconfirmed); only enforced with require_dimensions=True.
            errors.append(Message("9162", "Dimensions are required when the item is not a document."))
        if errors:
            raise CPError(400, errors)

        sender_postal = f.text("delivery-spec/sender/address-details/postal-zip-code") or ""
        shipping_point = (f.text("requested-shipping-point") or sender_postal or "K1A0B1").upper()
        weight = Decimal(f.text("delivery-spec/parcel-characteristics/weight") or "0")
        options = [
            (f.text_in(o, "option-code") or "", _dec(f.text_in(o, "option-amount")))
            for o in f.findall("delivery-spec/options/option")
        ]
        mailing = f.text("expected-mailing-date")
        now = self.now()
        mailing_date = (
            dt.date.fromisoformat(mailing[:10]) if mailing else dt.datetime.fromtimestamp(now, EASTERN).date()
        )
        price = {}
        if service_code in pricing.SERVICES:
            price = pricing.quote(
                service_code,
                weight,
                dims,
                pricing.province_of_postal_code(shipping_point)
                or (f.text("delivery-spec/sender/address-details/prov-state") or None),
                country or "CA",
                province or pricing.province_of_postal_code(postal),
                options,
                mailing_date,
            )
        label = {
            "service_code": service_code,
            "service_name": pricing.SERVICE_NAMES.get(service_code, service_code),
            "sender": _party(f, "delivery-spec/sender"),
            "destination": _party(f, "delivery-spec/destination"),
            "weight": str(weight),
            "dimensions": [str(d) for d in dims] if dims else None,
            "options": [code for code, _ in options],
            "customer_ref_1": f.text("delivery-spec/references/customer-ref-1"),
            "customer_ref_2": f.text("delivery-spec/references/customer-ref-2"),
            "output_format": f.text("delivery-spec/print-preferences/output-format") or "8.5x11",
        }
        with self.lock:
            key, artifact_id = self._new_artifact()
            shipment = Shipment(
                shipment_id=self._new_shipment_id(),
                kind=kind,
                flavour=flavour,
                mailed_by=mailed_by,
                mobo=mobo,
                tracking_pin=self._new_pin(),
                created_at=now,
                request_xml=etree.tostring(doc, encoding="unicode"),
                price=price,
                label=label,
                final_shipping_point=shipping_point if _is_ca_postal(shipping_point) else "K1A0B1",
                artifact_key=key,
                artifact_id=artifact_id,
                customer_request_id=f.text("customer-request-id") if kind == CONTRACT else None,
                group_id=f.text("group-id") if kind == CONTRACT else None,
                transmit_shipment=f.text("transmit-shipment") in ("true", "1"),
                provide_pricing_info=f.text("provide-pricing-info") in ("true", "1"),
                encoding=(f.text("delivery-spec/print-preferences/encoding") or "PDF").upper(),
                visible_at=now + hidden_for_s if hidden_for_s > 0 else None,
            )
            self.shipments[shipment.shipment_id] = shipment
            self._index(shipment)
        return shipment

    def _index(self, sh: Shipment) -> None:
        if sh.customer_request_id is not None:
            self._by_crid.setdefault(sh.customer_request_id, []).append(sh.shipment_id)
        self._by_pin[sh.tracking_pin] = sh.shipment_id
        self._by_artifact[(sh.artifact_key, sh.artifact_id)] = ("shipment", sh.shipment_id)

    def _reindex(self) -> None:
        self._by_crid.clear()
        self._by_pin.clear()
        self._by_artifact.clear()
        for sh in sorted(self.shipments.values(), key=lambda s: (s.created_at, s.shipment_id)):
            self._index(sh)
        for m in self.manifests.values():
            self._by_artifact[(m.artifact_key, m.artifact_id)] = ("manifest", m.manifest_id)

    # -- lookups -------------------------------------------------------------------------

    def get(self, shipment_id: str, kind: str, mailed_by: str, mobo: str | None) -> Shipment:
        """An active shipment of this account, or the gateway's 404 (empty ``<messages/>``)."""
        with self.lock:
            sh = self.shipments.get(shipment_id)
            if (
                sh is None
                or sh.kind != kind
                or not sh.active
                or not same_customer(sh.mailed_by, mailed_by)
                or (mobo is not None and not same_customer(sh.mobo, mobo))
            ):
                raise CPError(404, [])
            return sh

    def search(
        self,
        kind: str,
        mailed_by: str,
        mobo: str | None = None,
        *,
        request_id: str | None = None,
        pin: str | None = None,
        group_id: str | None = None,
        no_manifest_date: dt.date | None = None,
        window: tuple[dt.datetime, dt.datetime] | None = None,
        include_hidden: bool = False,
    ) -> list[Shipment]:
        """Active shipments matching every given filter, oldest first.

        Voided shipments are gone for the gateway (404 on get), so they are not found either:
        crash recovery by customer-request-id must never adopt a voided label. Shipments under the
        visibility-delay fault are not found until their ``visible_at`` (the API's look-ups); Canada
        Post's own work on a group (``include_hidden``: transmit) sees them.
        """
        with self.lock:
            now = self.now()
            out = []
            candidates: Iterable[Shipment] = self.shipments.values()
            if request_id is not None:
                candidates = [self.shipments[i] for i in self._by_crid.get(request_id, [])]
            elif pin is not None:
                found_id = self._by_pin.get(pin)
                candidates = [self.shipments[found_id]] if found_id else []
            for sh in candidates:
                if sh.kind != kind or not sh.active or not same_customer(sh.mailed_by, mailed_by):
                    continue
                if not include_hidden and not sh.visible(now):
                    continue
                if mobo is not None and not same_customer(sh.mobo, mobo):
                    continue
                if request_id is not None and sh.customer_request_id != request_id:
                    continue
                if pin is not None and sh.tracking_pin != pin:
                    continue
                if group_id is not None and (sh.group_id != group_id or sh.status != CREATED):
                    continue
                if no_manifest_date is not None:
                    created = dt.datetime.fromtimestamp(sh.created_at, EASTERN).date()
                    if sh.status != CREATED or sh.group_id is None or created != no_manifest_date:
                        continue
                if window is not None:
                    created_dt = dt.datetime.fromtimestamp(sh.created_at, EASTERN)
                    if not window[0] <= created_dt <= window[1]:
                        continue
                out.append(sh)
            out.sort(key=lambda s: (s.created_at, s.shipment_id))
            return out

    def by_pin(self, pin: str) -> Shipment | None:
        with self.lock:
            found_id = self._by_pin.get(pin)
            sh = self.shipments.get(found_id) if found_id else None
            return sh if sh is not None and sh.active else None

    def groups(self, mailed_by: str, mobo: str) -> list[str]:
        """Groups that still hold shipments waiting for a transmit."""
        with self.lock:
            found = {
                sh.group_id
                for sh in self.shipments.values()
                if sh.kind == CONTRACT
                and sh.status == CREATED
                and sh.group_id
                and same_customer(sh.mailed_by, mailed_by)
                and same_customer(sh.mobo, mobo)
            }
            return sorted(g for g in found if g)

    # -- void / refund -------------------------------------------------------------------

    def void(self, sh: Shipment) -> None:
        with self.lock:
            if sh.status == VOIDED:
                raise CPError(404, [])
            if sh.status == TRANSMITTED:
                raise CPError.one(
                    400,
                    "8064",
                    "A shipment can only be voided if its status is PROCESSED or PRINTED. "
                    "Please request a refund instead.",
                )
            sh.status = VOIDED
            sh.voided_at = self.now()

    def refund(self, sh: Shipment, email: str) -> dict:
        with self.lock:
            if sh.refund is not None:
                raise CPError.one(409, "7292", "A refund request has already been submitted for this shipment.")
            if sh.kind == NONCONTRACT and self.events(sh):
                # The sheet: a non-contract refund is allowed only before any scan (code unconfirmed).
                raise CPError.one(
                    400, CODE_SERVER, "A refund cannot be requested for a shipment that has been scanned."
                )
            now = self.now()
            ticket = {
                "service-ticket-date": dt.datetime.fromtimestamp(now, EASTERN).date().isoformat(),
                "service-ticket-id": "GT" + _digits(f"{self.seed}:ticket:{self._next('ticket')}", 8),
                "email": email,
                "requested_at": now,
            }
            sh.refund = ticket
            return ticket

    # -- transmit ------------------------------------------------------------------------

    def transmit(self, doc: etree._Element, *, flavour: str, mailed_by: str, mobo: str) -> list[Manifest]:
        f = _Finder(doc, NS_MANIFEST)
        group_ids = [g.text or "" for g in f.findall("group-ids/group-id")]
        excluded = {e.text for e in f.findall("excluded-shipments/shipment-id")}
        method = f.text("method-of-payment") or ""
        if method not in METHODS_OF_PAYMENT:
            raise CPError.one(400, "1711", f"The method of payment '{method}' is not valid.")
        point = f.text("requested-shipping-point") or ""
        if not (point or f.text("shipping-point-id") or f.text("cpc-pickup-indicator")):
            raise CPError.one(
                400,
                CODE_SERVER,
                "requested-shipping-point is required unless shipping-point-id or cpc-pickup-indicator is given.",
            )
        with self.lock:
            picked = [
                sh
                for sh in self.search(CONTRACT, mailed_by, mobo, include_hidden=True)
                if sh.group_id in group_ids and sh.status == CREATED and sh.shipment_id not in excluded
            ]
            if not picked:
                # Nothing to transmit: an empty <manifests/> (real behaviour unconfirmed; a
                # retried transmit after a lost answer must not fail the caller).
                return []
            now = self.now()
            n = self._next("manifest")
            key, artifact_id = self._new_artifact()
            manifest = Manifest(
                manifest_id="2" + _digits(f"{self.seed}:manifest:{n}", 17),
                po_number="P" + _digits(f"{self.seed}:po:{n}", 9),
                mailed_by=mailed_by,
                mobo=mobo,
                group_ids=sorted({sh.group_id for sh in picked if sh.group_id}),
                shipment_ids=[sh.shipment_id for sh in picked],
                created_at=now,
                request_xml=etree.tostring(doc, encoding="unicode"),
                artifact_key=key,
                artifact_id=artifact_id,
                method_of_payment=method,
                final_shipping_point=point.upper() if _is_ca_postal(point.upper()) else picked[0].final_shipping_point,
                customer_reference=f.text("customer-reference"),
                flavour=flavour,
            )
            for sh in picked:
                sh.status = TRANSMITTED
                sh.transmitted_at = now
                sh.manifest_id = manifest.manifest_id
                sh.po_number = manifest.po_number
            self.manifests[manifest.manifest_id] = manifest
            self._by_artifact[(key, artifact_id)] = ("manifest", manifest.manifest_id)
            return [manifest]

    def get_manifest(self, manifest_id: str, mailed_by: str, mobo: str | None) -> Manifest:
        with self.lock:
            m = self.manifests.get(manifest_id)
            if (
                m is None
                or not same_customer(m.mailed_by, mailed_by)
                or (mobo is not None and not same_customer(m.mobo, mobo))
            ):
                raise CPError(404, [])
            return m

    def find_artifact(self, key: str, artifact_id: str) -> Shipment | Manifest | None:
        with self.lock:
            kind, found_id = self._by_artifact.get((key, artifact_id), ("", ""))
            if kind == "shipment":
                sh = self.shipments[found_id]
                return sh if sh.active else None
            if kind == "manifest":
                return self.manifests[found_id]
            return None

    # -- tracking ------------------------------------------------------------------------

    def events(self, sh: Shipment, step_s: float | None = None) -> list[TrackingEvent]:
        """Scans so far, advancing with (sandbox) time: induction one step after the parcel could
        first be dropped off (transmit, or creation without a manifest), then in transit, out for
        delivery and delivered one step apart."""
        start = sh.tracking_start()
        if start is None:
            return []
        step = self.tracking_step_s if step_s is None else step_s
        sender = sh.label.get("sender") or {}
        dest = sh.label.get("destination") or {}
        origin_city = (sender.get("city") or "OTTAWA").upper()
        origin_prov = sender.get("prov_state") or "ON"
        dest_city = (dest.get("city") or "TORONTO").upper()
        dest_prov = dest.get("prov_state") or "ON"
        # event-type values other than INDUCTION are unconfirmed; identifiers follow karrio's map
        # (delivered 1408-family, out for delivery 174).
        plan = [
            ("INDUCTION", "3000", "Item accepted at the Post Office", origin_city, origin_prov),
            ("INTRANSIT", "0100", "Item processed", origin_city, origin_prov),
            ("OUT", "174", "Item out for delivery", dest_city, dest_prov),
            ("DELIVERED", "1496", "Delivered", dest_city, dest_prov),
        ]
        now = self.now()
        out = []
        for i, (etype, ident, desc, loc, prov) in enumerate(plan, start=1):
            at = start + i * step
            if at > now:
                break
            out.append(TrackingEvent(at, etype, ident, desc, loc, prov))
        return out

    # -- inspection / persistence ----------------------------------------------------------

    def inspect(self) -> dict:
        with self.lock:
            by_status: dict[str, int] = {}
            by_flavour: dict[str, int] = {}
            by_kind: dict[str, int] = {}
            by_crid: dict[str, list[str]] = {}
            active_by_crid: dict[str, list[str]] = {}
            for sh in self.shipments.values():
                by_status[sh.status] = by_status.get(sh.status, 0) + 1
                by_flavour[sh.flavour] = by_flavour.get(sh.flavour, 0) + 1
                by_kind[sh.kind] = by_kind.get(sh.kind, 0) + 1
                if sh.customer_request_id is not None:
                    by_crid.setdefault(sh.customer_request_id, []).append(sh.shipment_id)
                    if sh.active:
                        active_by_crid.setdefault(sh.customer_request_id, []).append(sh.shipment_id)
            return {
                "shipments": len(self.shipments),
                "shipments_by_status": by_status,
                "shipments_by_flavour": by_flavour,
                "shipments_by_kind": by_kind,
                "shipments_by_customer_request_id": by_crid,
                "active_shipments_by_customer_request_id": active_by_crid,
                "refunds": sum(1 for sh in self.shipments.values() if sh.refund is not None),
                "label_fetches": sum(sh.label_fetches for sh in self.shipments.values()),
                "manifests": len(self.manifests),
                "open_groups": sorted(
                    {sh.group_id for sh in self.shipments.values() if sh.group_id and sh.status == CREATED}
                ),
                "tokens_issued": len(self.tokens),
                "clock_offset_s": self.clock_offset,
                # under the visibility-delay fault: created, but no search lists them yet
                "hidden_shipments": sorted(
                    sh.shipment_id for sh in self.shipments.values() if not sh.visible(self.now())
                ),
            }

    def shipment_summaries(self, customer_request_id: str | None = None) -> list[dict]:
        with self.lock:
            return [
                {
                    "shipment_id": sh.shipment_id,
                    "kind": sh.kind,
                    "flavour": sh.flavour,
                    "customer_request_id": sh.customer_request_id,
                    "group_id": sh.group_id,
                    "status": sh.status,
                    "tracking_pin": sh.tracking_pin,
                    "created_at": sh.created_at,
                    "refunded": sh.refund is not None,
                    "due_amount": sh.price.get("due-amount"),
                    "label_fetches": sh.label_fetches,
                    "visible_at": sh.visible_at,
                }
                for sh in sorted(self.shipments.values(), key=lambda s: (s.created_at, s.shipment_id))
                if customer_request_id is None or sh.customer_request_id == customer_request_id
            ]

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "version": 1,
                "seed": self.seed,
                "clock_offset": self.clock_offset,
                "counters": dict(self.counters),
                "shipments": [asdict(sh) for sh in self.shipments.values()],
                "manifests": [asdict(m) for m in self.manifests.values()],
                "tokens": {k: dict(v) for k, v in self.tokens.items()},
            }

    def restore(self, data: dict) -> None:
        with self.lock:
            self.clock_offset = float(data.get("clock_offset", 0.0))
            self.counters = {str(k): int(v) for k, v in data.get("counters", {}).items()}
            self.shipments = {d["shipment_id"]: Shipment(**d) for d in data.get("shipments", [])}
            self.manifests = {d["manifest_id"]: Manifest(**d) for d in data.get("manifests", [])}
            self.tokens = {k: dict(v) for k, v in data.get("tokens", {}).items()}
            self.pins = {sh.tracking_pin for sh in self.shipments.values()}
            self._reindex()

    def clear(self) -> None:
        with self.lock:
            self.shipments.clear()
            self.manifests.clear()
            self.tokens.clear()
            self.counters.clear()
            self.pins.clear()
            self._reindex()
            self.clock_offset = 0.0


# -- request helpers ---------------------------------------------------------------------


@dataclass
class _Finder:
    """Namespace-aware lookups by slash path in a validated request document."""

    doc: etree._Element
    ns: str | None
    _nsmap: dict = field(init=False)

    def __post_init__(self) -> None:
        self._nsmap = {"c": self.ns} if self.ns else {}

    def _xp(self, path: str) -> str:
        return "/".join(f"c:{p}" if self.ns else p for p in path.split("/"))

    def find(self, path: str) -> etree._Element | None:
        return self.doc.find(self._xp(path), self._nsmap)

    def findall(self, path: str) -> list[etree._Element]:
        return list(self.doc.findall(self._xp(path), self._nsmap))

    def text(self, path: str) -> str | None:
        el = self.find(path)
        return el.text.strip() if el is not None and el.text is not None else None

    def text_in(self, el: etree._Element, path: str) -> str | None:
        found = el.find(self._xp(path), self._nsmap)
        return found.text.strip() if found is not None and found.text is not None else None


def _is_ca_postal(code: str) -> bool:
    return len(code) == 6 and all(
        (c.isalpha() and c.isupper()) if i % 2 == 0 else c.isdigit() for i, c in enumerate(code)
    )


def _dec(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _dimensions(f: _Finder) -> tuple[Decimal, Decimal, Decimal] | None:
    dims = [f.text(f"delivery-spec/parcel-characteristics/dimensions/{n}") for n in ("length", "width", "height")]
    if not all(dims):
        return None
    return Decimal(dims[0] or "0"), Decimal(dims[1] or "0"), Decimal(dims[2] or "0")


def _party(f: _Finder, path: str) -> dict:
    return {
        "name": f.text(f"{path}/name"),
        "company": f.text(f"{path}/company"),
        "phone": f.text(f"{path}/contact-phone") or f.text(f"{path}/client-voice-number"),
        "address_line_1": f.text(f"{path}/address-details/address-line-1"),
        "address_line_2": f.text(f"{path}/address-details/address-line-2"),
        "city": f.text(f"{path}/address-details/city"),
        "prov_state": f.text(f"{path}/address-details/prov-state"),
        "country_code": f.text(f"{path}/address-details/country-code") or "CA",
        "postal_code": f.text(f"{path}/address-details/postal-zip-code"),
    }


__all__ = [
    "CONTRACT",
    "CREATED",
    "NONCONTRACT",
    "NS_SHIPMENT",
    "PORTAL",
    "TRANSMITTED",
    "VOIDED",
    "XML",
    "Manifest",
    "Shipment",
    "Store",
    "TrackingEvent",
]
