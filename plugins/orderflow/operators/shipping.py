"""shipping: buy each ``accepted`` order's Canada Post label exactly once, validate and store it.

Per claimed batch (<= 100 orders), one OR11 read by order_ids decides what each order needs:

- **SHIPPING** (debit done, address released): buy the label (below);
- **WAITING_DEBIT*** (still debiting): nothing; the order waits for a later run, no failure;
- **CANCELED/REFUSED** (payment refused, customer canceled): ``canceled``, no label bought;
- **SHIPPED** or later without our label: ``label_failed`` (someone shipped it outside orderflow,
  e.g. an order accepted and shipped by hand in Best Buy's portal before ingest saw it: a person
  decides; no label is bought and tracking never takes it);
- a state Best Buy's API does not document: ``label_failed``, for a person.

The exactly-once protocol (design.md), one package per order, ``customer_request_id =
<order_id>-<package_no>``:

1. Commit a ``shipments`` row with status ``intent`` *before* calling Canada Post.
2. Create the shipment with that id. A row just inserted goes straight to the POST; the hook itself
   never re-POSTs after a doubtful answer (timeout, dropped connection, 5xx) without first looking
   the id up at Canada Post and adopting what it finds, and after an ambiguous answer whose look-up
   finds nothing it makes no second POST at all (``CreateInDoubt``).
3. A row found in ``intent`` when the step reaches it (a worker killed between Canada Post's answer
   and our commit, a retry, a re-run): ``find_shipments(customer_request_id=...)`` first; adopt what
   exists; create only when Canada Post holds none *and* that look-up was made at least
   ``create_recheck_seconds`` after the last create that may have been processed
   (``shipments.create_doubt_at``, see ``operators/create_recheck.py``); until then the order waits
   (``waiting``, not ``label_failed``) for the next try or run.
4. Download the label, validate it (PDF with the PIN in its text), store it under the label directory
   as ``<order_id>/<customer_request_id>.pdf`` with its sha256.
5. Mark the shipment and record ``label_created`` (detail: ids, PIN, price, sha256, and how the
   shipment was obtained: ``created``, ``adopted`` after a look-up (ours before a POST, or the hook's
   after a lost create answer; ``adopted: true`` in the detail), or ``resumed`` from our own row).

While a package's Canada Post calls run, a PostgreSQL advisory lock on its customer_request_id is
held (see ``OrderStore.shipment_lock``): claims keep runs apart, the lock also keeps apart a worker
wrongly presumed dead and its successor.

Errors: Canada Post refusing the request (validation, address) -> ``label_failed`` with the
carrier's codes and messages; the ``intent`` row becomes ``failed`` only when the refusal was the
answer to our create (Canada Post holds none), so a person's re-attempt reuses the id safely.
Timeouts, 5xx, throttling and "outcome unknown" leave the order ``accepted`` with its ``intent`` row:
the next try looks it up first. A create in doubt (its answer lost, the look-up right after empty)
is *waiting*, not transient: no task retry is asked for, the next try or run looks again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orderflow import lifecycle
from orderflow.operators.base import MiraklOrderStepOperator
from orderflow.operators.create_recheck import CreateGate
from orderflow.operators.end_of_day import daily_group_request
from orderflow.operators.errors import PermanentItemError, error_detail

if TYPE_CHECKING:
    from airflow.sdk import Context

    from orderflow.hooks.canadapost_model import ShipmentRequest
    from orderflow.hooks.mirakl import MiraklHook
    from orderflow.shipping_rules import ParcelPlan

(INPUT,) = lifecycle.SHIPPING_INPUT
WAITING_STATES = lifecycle.MIRAKL_BEFORE_LABEL
SHIPPED_STATES = lifecycle.MIRAKL_SHIPPED
LIVE_SHIPMENT = lifecycle.LIVE


@dataclass(frozen=True)
class _Package:
    """The order's one package being bought a label: what each call of its purchase needs."""

    order: dict[str, Any]  # our copy, with its lines
    payload: dict[str, Any]  # Best Buy's copy (OR11): the released address
    products: dict[str, dict[str, Any]]  # the catalog rows of its lines' SKUs
    package_no: int
    crid: str  # customer_request_id: <order_id>-<package_no>

    @property
    def order_id(self) -> str:
        return str(self.order["order_id"])


class BuyLabelsOperator(MiraklOrderStepOperator):
    """Claim ``accepted`` orders; buy, validate and store one Canada Post label each (see module doc)."""

    step = "shipping"
    failed_status = "label_failed"

    def __init__(self, *, canadapost_conn_id: str = "canadapost_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.canadapost_conn_id = canadapost_conn_id

    def run_step(self, context: Context) -> None:
        from orderflow.hooks.canadapost import CanadaPostHook
        from orderflow.operators.carrier_cache import StoreSeenShipments

        mirakl = self.mirakl_hook()
        # Non-contract look-ups keep what they read in our database and never read it again.
        self.canadapost = CanadaPostHook(self.canadapost_conn_id, nc_seen=StoreSeenShipments(self.store))
        self.connect("Canada Post", self.canadapost.get_conn)
        for batch in self.claimed_batches(INPUT):
            self._ship_batch(mirakl, batch)

    # -------------------------------------------------------------------------------------------
    def _ship_batch(self, mirakl: MiraklHook, batch: list[str]) -> None:
        remote = self.read_batch(mirakl, batch)
        if remote is None:
            return
        orders = self.store.get_orders(batch)
        shipments = self.store.shipments_for_orders(batch)
        skus = sorted({line["offer_sku"] for o in orders.values() for line in o["lines"] if line.get("offer_sku")})
        products = self.store.products_for_skus(skus) if skus else {}

        to_ship: list[str] = []
        for order_id, payload in self.returned(batch, remote):
            state = payload.get("order_state")
            if state in lifecycle.MIRAKL_SHIPPING:
                to_ship.append(order_id)
            elif state in WAITING_STATES:
                self.result.record_waiting(order_id, f"{state} at Best Buy: no label before the debit")
            elif state in lifecycle.MIRAKL_ENDED:
                held = [
                    {"customer_request_id": s["customer_request_id"], "status": s["status"]}
                    for s in shipments.get(order_id, [])
                    if s["status"] in lifecycle.MAY_HOLD_MONEY
                ]
                self.transition(
                    order_id, "canceled", expected_from=INPUT,
                    reason=f"{state.lower()} at Best Buy before a label was bought" if not held
                    else f"{state.lower()} at Best Buy; a shipment row exists: check and void it",
                    mirakl_state=state, mirakl_reason=payload.get("order_state_reason_code"),
                    shipments=held, label_to_void=bool(held),
                )
            elif state in SHIPPED_STATES:
                self.fail(order_id, expected_from=INPUT,
                          reason=f"{state} at Best Buy without an orderflow label: shipped outside orderflow? "
                                 "(no label bought, nothing sent to Best Buy)",
                          mirakl_state=state)
            else:  # a state Best Buy does not document: no label on a guess, a person looks
                self.fail(order_id, expected_from=INPUT, mirakl_state=state,
                          reason=f"{state} at Best Buy is not a state Best Buy's API documents: no label bought")

        def ship(order_id: str) -> None:
            try:
                self._ship_order(orders[order_id], remote[order_id], shipments.get(order_id, []), products)
            except PermanentItemError as exc:
                self.fail(order_id, expected_from=INPUT, reason=exc.reason, **exc.detail)

        self.for_each(to_ship, ship, key=lambda oid: oid)

    # -------------------------------------------------------------------------------------------
    def _package(self, order_id: str, rows: list[dict[str, Any]]) -> tuple[int, dict[str, Any] | None]:
        """(package_no, existing row or None) of the order's one package."""
        live = [r for r in rows if r["status"] in LIVE_SHIPMENT]
        if live:
            return live[0]["package_no"], live[0]
        failed = [r for r in rows if r["status"] == "failed"]
        if failed:
            row = failed[-1]
            return row["package_no"], row
        # None yet, or every earlier one voided: a voided label's id is spent, take the next number.
        return (max((r["package_no"] for r in rows), default=0) + 1), None

    def _ship_order(
        self,
        order: dict[str, Any],
        payload: dict[str, Any],
        rows: list[dict[str, Any]],
        products: dict[str, dict[str, Any]],
    ) -> None:
        order_id = order["order_id"]
        package_no, _ = self._package(order_id, rows)
        crid = f"{order_id}-{package_no}"
        with self.store.shipment_lock(crid) as locked:
            if not locked:
                self.result.record_waiting(order_id, f"another worker holds {crid}")
                return
            # Re-read under the lock: whoever held it before may have finished this package.
            fresh = [r for r in self.store.shipments_for_order(order_id) if r["customer_request_id"] == crid]
            row = fresh[0] if fresh else None
            if row is not None and row["status"] == "failed":
                row = self.store.reopen_shipment_intent(crid)
                how_found = "reopened"
            else:
                how_found = "existing" if row is not None else "new"
            self._buy_and_store(_Package(order, payload, products, package_no, crid), row, how_found)

    def _buy_and_store(self, pkg: _Package, row: dict[str, Any] | None, how_found: str) -> None:
        from orderflow.label_store import label_matches

        order_id, crid = pkg.order_id, pkg.crid
        status = row["status"] if row else None
        outcome = "resumed"
        if row is not None and status == "label_stored":
            ok, why = label_matches(row["label_path"], row["label_sha256"])
            if ok:
                self._record_label_created(order_id, row, outcome="resumed: label already stored")
                return
            self.log.warning("%s: stored label unusable (%s); downloading it again", crid, why)
            status = "created"
        if status in (None, "intent"):
            row, outcome = self._obtain_shipment(pkg, row, how_found)
            if row is None:
                return
        assert row is not None
        stored = self._fetch_label(order_id, crid, row)
        if stored is None:
            return
        self._record_label_created(order_id, stored, outcome=outcome)

    def _request(self, pkg: _Package) -> tuple[ShipmentRequest, ParcelPlan]:
        """(ShipmentRequest, ParcelPlan) for the order, or PermanentItemError."""
        from orderflow.hooks.canadapost_model import Parcel, References, ShipmentRequest
        from orderflow.shipping_rules import (
            ShippingRuleError,
            choose_service_code,
            destination_from_mirakl,
            plan_parcel,
        )

        s, order = self.settings, pkg.order
        address = (pkg.payload.get("customer") or {}).get("shipping_address") or order.get("shipping_address")
        try:
            dest = destination_from_mirakl(address)
            plan = plan_parcel(order["lines"], pkg.products, default_unit_weight_kg=s.default_parcel_weight_kg)
            service = choose_service_code(
                plan.weight_kg, dest.country_code, s.service_rules,
                default_ca=s.default_service_code, default_us=s.service_code_usa,
                default_international=s.service_code_international,
            )
            request = ShipmentRequest(
                destination=dest,
                parcel=Parcel(plan.weight_kg, plan.length_cm, plan.width_cm, plan.height_cm),
                customer_request_id=pkg.crid,
                service_code=service,
                # customer-ref-1 prints on the label: the packer matches parcel and order by it.
                references=References(customer_ref_1=order_id_ref(order["order_id"])),
            )
        except ShippingRuleError as exc:
            raise PermanentItemError(str(exc), rule=exc.reason) from exc
        except ValueError as exc:
            raise PermanentItemError(f"cannot build the shipment request: {exc}") from exc
        return request, plan

    def _obtain_shipment(
        self, pkg: _Package, row: dict[str, Any] | None, how_found: str
    ) -> tuple[dict[str, Any] | None, str]:
        """Steps 1-3: intent, then find-or-create at Canada Post, then mark created."""
        order_id, crid = pkg.order_id, pkg.crid
        request, plan = self._request(pkg)
        cp = self.canadapost
        if row is None:
            row = self.store.create_shipment_intent(
                order_id=order_id, package_no=pkg.package_no, customer_request_id=crid,
                transport=cp.config.api, service_code=request.service_code,
                weight_kg=plan.weight_kg, dimensions_cm=plan.dimensions,
            )
        fresh_intent = bool(row.get("inserted")) and how_found == "new"
        # Find or create under the recheck window (operators/create_recheck.py): no new POST after an
        # ambiguous one until a look-up made CREATE_RECHECK_SECONDS after it has found nothing.
        gate = CreateGate(cp, self.store, recheck_seconds=self.settings.create_recheck_seconds,
                          count_call=self.result.count_call, log=self.log)
        try:
            obtained = gate.obtain(
                request, fresh_intent=fresh_intent, doubt_at=row.get("create_doubt_at"),
                # right before each create POST: the group of its mailing day (end of day, daily groups)
                prepare=lambda r: daily_group_request(self.store, self.settings, cp, r, crid),
            )
        except Exception as exc:
            if self.triage(exc, "Canada Post") == "permanent":
                detail = error_detail(exc)
                if gate.posted and getattr(exc, "status", None) == 400:
                    # The create itself was refused: Canada Post holds nothing for this id. (A refused
                    # look-up proves nothing: the intent stays, and the re-attempt looks up again.)
                    self.store.mark_shipment_failed(crid, error=detail)
                raise PermanentItemError("Canada Post refused the shipment", customer_request_id=crid,
                                           **detail) from exc
            self.result.record_transient(order_id, f"create-shipment {crid}: {exc}")
            return None, "created"
        info, outcome = obtained.info, obtained.outcome
        if info is None:
            self.result.record_waiting(order_id, obtained.waiting or f"create of {crid} in doubt")
            return None, outcome
        if not info.tracking_pin or not info.label_link:
            # Money may be spent: keep the intent; a person looks at what Canada Post answered.
            raise PermanentItemError(
                "Canada Post answered without a tracking PIN or label link",
                customer_request_id=crid, shipment_id=info.shipment_id,
            )
        created = self.store.mark_shipment_created(
            crid, shipment_id=info.shipment_id, tracking_pin=info.tracking_pin, links=info.links,
            price=info.price, group_id=info.group_id,
        )
        self.log.info("%s: shipment %s (%s), PIN %s", crid, info.shipment_id, outcome, info.tracking_pin)
        return created, outcome

    def _fetch_label(self, order_id: str, crid: str, row: dict[str, Any]) -> dict[str, Any] | None:
        """Step 4: download, validate, store (two downloads at most). The updated row or None."""
        from orderflow.label_store import write_label
        from orderflow.labels import LabelValidationError, validate_label

        link = (row.get("links") or {}).get("label")
        pin = row["tracking_pin"]
        if not link:
            raise PermanentItemError("the shipment has no label link", customer_request_id=crid,
                                       shipment_id=row["shipment_id"])
        page_size = (4.0, 6.0) if self.canadapost.config.shipper.output_format == "4x6" else None
        last_invalid: LabelValidationError | None = None
        for _ in range(2):  # a cut download validates badly once; a second bad one is the label itself
            try:
                data, content_type = self.canadapost.get_label(link)
                self.result.count_call("CP_label")
            except Exception as exc:
                if self.triage(exc, "Canada Post") == "permanent":
                    raise PermanentItemError(
                        "label download refused (shipment bought: reprint or void it)",
                        customer_request_id=crid, shipment_id=row["shipment_id"], **error_detail(exc),
                    ) from exc
                self.result.record_transient(order_id, f"label {crid}: {exc}")
                return None
            is_zpl = "zpl" in (content_type or "").lower()
            try:
                if is_zpl:
                    if pin.replace(" ", "") not in data.decode("latin-1").replace(" ", ""):
                        raise LabelValidationError("pin_missing", f"tracking PIN {pin} not in the ZPL label")
                else:
                    validate_label(data, pin, page_size_in=page_size)
            except LabelValidationError as exc:
                last_invalid = exc
                self.log.warning("%s: label invalid (%s); downloading again", crid, exc.reason)
                continue
            stored = write_label(self.settings.resolved_label_dir, order_id, crid, data,
                                 "zpl" if is_zpl else "pdf")
            return self.store.mark_label_stored(
                crid, label_path=stored.path, label_sha256=stored.sha256,
                label_content_type=content_type or "application/pdf",
            )
        assert last_invalid is not None
        raise PermanentItemError(
            "label failed validation twice (shipment bought: reprint or void it)",
            customer_request_id=crid, shipment_id=row["shipment_id"], label_check=last_invalid.reason,
            message=str(last_invalid),
        )

    def _record_label_created(self, order_id: str, row: dict[str, Any], *, outcome: str) -> None:
        self.transition(
            order_id, "label_created", expected_from=INPUT,
            reason="label bought, validated and stored",
            shipment=outcome,
            adopted=outcome.startswith("adopted"),
            customer_request_id=row["customer_request_id"],
            shipment_id=row["shipment_id"],
            tracking_pin=row["tracking_pin"],
            service_code=row.get("service_code"),
            price=str(row["price"]) if row.get("price") is not None else None,
            label_path=row["label_path"],
            label_sha256=row["label_sha256"],
        )


def order_id_ref(order_id: str) -> str:
    """customer-ref-1 allows 35 characters."""
    return order_id[:35]
