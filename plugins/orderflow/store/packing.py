"""The packing station's SQL: the queue, pack sessions, scans, overrides, label prints.

A pack session is one packer verifying one order. Every scan is a `pack_scans` row whatever its
result, so the log shows what was scanned, not only what counted. A scan is checked against the
order's expected components (order line quantity x units per product) inside one transaction that
holds the order row lock, so scans of one order are counted one at a time even when a station
posts a burst of them or two stations scan the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg2.extras import RealDictCursor

from orderflow import lifecycle
from orderflow.store.base import Row, StoreBase, jsonb

# Scan results (pack_scans.result). Only OK and OVERRIDE count a unit.
OK = "ok"
WRONG_ITEM = "wrong_item"
EXTRA_UNIT = "extra_unit"
UNKNOWN_CODE = "unknown_code"
OVERRIDE = "override"

# Longest code a station accepts; a scanner never sends more, a stuck key might.
MAX_BARCODE_LENGTH = 64


def barcode_hint(code: str | None) -> str:
    """What the station shows of a barcode: a short suffix (``…4538``), never the whole code.

    Enough to tell two boxes of one order apart; not enough to type: the packer has to scan the box
    to verify it (a typed code counts as a scan, so a code on the screen would verify anything)."""
    code = (code or "").strip()
    if not code or code.startswith("("):  # "(no barcode)" of an override
        return code
    keep = 4 if len(code) >= 8 else len(code) // 3
    return "…" + code[len(code) - keep:] if keep else "…"


class PackingRefused(RuntimeError):
    """The order cannot be packed now (wrong status, nothing to pack...); nothing was written."""

    def __init__(self, order_id: str, reason: str, *, status: str | None = None) -> None:
        self.order_id = order_id
        self.reason = reason
        self.status = status
        super().__init__(f"order {order_id}: {reason}")


@dataclass
class ExpectedComponent:
    order_line_id: str
    component_id: int | None
    barcode: str | None
    name: str | None
    expected: int
    counted: int = 0

    @property
    def remaining(self) -> int:
        return max(self.expected - self.counted, 0)


@dataclass
class PackLine:
    order_line_id: str
    line_index: int | None
    offer_sku: str | None
    title: str | None
    quantity: int
    components: list[ExpectedComponent] = field(default_factory=list)

    @property
    def expected(self) -> int:
        return sum(c.expected for c in self.components)

    @property
    def counted(self) -> int:
        return sum(min(c.counted, c.expected) for c in self.components)

    @property
    def in_catalog(self) -> bool:
        return any(c.component_id is not None for c in self.components)


@dataclass
class PackProgress:
    lines: list[PackLine]

    @property
    def expected(self) -> int:
        return sum(line.expected for line in self.lines)

    @property
    def counted(self) -> int:
        return sum(line.counted for line in self.lines)

    @property
    def complete(self) -> bool:
        # A line the catalog does not know cannot be verified by scanning: only an override packs it.
        return all(line.in_catalog for line in self.lines) and self.counted >= self.expected > 0

    def components(self) -> list[ExpectedComponent]:
        return [c for line in self.lines for c in line.components]

    def as_dict(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "counted": self.counted,
            "complete": self.complete,
            "lines": [
                {
                    "order_line_id": line.order_line_id,
                    "expected": line.expected,
                    "counted": line.counted,
                    "components": [
                        {
                            "component_id": c.component_id,
                            "barcode_hint": barcode_hint(c.barcode),
                            "expected": c.expected,
                            "counted": min(c.counted, c.expected),
                        }
                        for c in line.components
                        if c.component_id is not None
                    ],
                }
                for line in self.lines
            ],
        }


@dataclass(frozen=True)
class ScanOutcome:
    barcode: str
    result: str
    message: str
    scan_id: int | None
    order_line_id: str | None = None
    component_id: int | None = None
    client_id: str | None = None
    replayed: bool = False  # this station scan was stored by an earlier post of the same batch

    @property
    def counted(self) -> bool:
        return self.result == OK


class PackingMixin(StoreBase):
    """Reads and writes of the packing station."""

    # -- reads ------------------------------------------------------------------------------
    def pack_queue(self, flags: lifecycle.Flags, *, limit: int = 200) -> list[Row]:
        """Every labelled parcel not packed yet (and, gate on, orders to verify before their label)."""
        unlabelled = [s for s in lifecycle.packable_statuses(flags) if s not in lifecycle.PACK_QUEUE_STATUSES]
        return self.fetch_all("pack_queue", {
            "statuses": lifecycle.values(lifecycle.PACK_QUEUE_STATUSES), "unlabelled": sorted(unlabelled),
            "limit": limit,
        })

    def pack_order_header(self, order_id: str) -> Row | None:
        return self.fetch_one("pack_order_header", {"order_id": order_id})

    def pack_progress(self, order_id: str) -> PackProgress:
        """Expected components of the order and what the open (or last) session counted."""
        with self.transaction() as cur:
            session = self._session_for_progress(cur, order_id)
            return self._progress(cur, order_id, session["id"] if session else None)

    def pack_session(self, order_id: str) -> Row | None:
        """The order's open session, else its latest one (None if never opened)."""
        with self.transaction() as cur:
            return self._session_for_progress(cur, order_id)

    def pack_session_scans(self, session_id: int, *, limit: int = 50) -> list[Row]:
        return self.fetch_all("pack_session_scans", {"session_id": session_id, "limit": limit})

    def pack_label_shipments(self, order_id: str) -> list[Row]:
        return self.fetch_all("pack_label_shipments", {"order_id": order_id})

    # -- writes -----------------------------------------------------------------------------
    def record_scans(
        self,
        order_id: str,
        scans: Sequence[tuple[str | None, str]],
        *,
        packer: str,
        packable_statuses: Sequence[str],
        pack_when_complete: bool = True,
    ) -> tuple[list[ScanOutcome], PackProgress, Row | None]:
        """Check and store scans in the order they were made; returns (outcomes, progress, packed).

        ``scans`` are (station scan id, code) pairs. The station's id makes a re-posted batch
        harmless: a scan already stored under that id in this session is answered from the stored
        row, not counted again. One transaction for the batch: a station that queued several scans
        client-side posts them together, and either all are stored and counted or (on an error) none, so the station can
        simply post them again. When the last expected unit is counted and the order is in a
        status that may become `packed`, the order is packed in the same transaction (`packed` is
        then the new history row, else None).
        """
        with self.transaction() as cur:
            self._lock_packable(cur, order_id, packable_statuses)
            session = self._open_session(cur, order_id, packer)
            progress = self._progress(cur, order_id, session["id"])
            outcomes = []
            for client_id, code in scans:
                previous = self._stored_scan(cur, session["id"], client_id)
                if previous is not None:
                    outcomes.append(previous)
                    continue
                outcome = self._scan(cur, order_id, session["id"], code, packer, progress, client_id)
                outcomes.append(outcome)
            packed = None
            if pack_when_complete and progress.complete:
                parcels = self._unpacked_parcels(cur, order_id)
                if parcels:
                    packed = self._pack(cur, order_id, session["id"], packer, progress, parcels,
                                        override_reason=None)
            return outcomes, progress, packed

    def complete_pack(
        self,
        order_id: str,
        *,
        packer: str,
        packable_statuses: Sequence[str],
        override_reason: str | None = None,
    ) -> tuple[PackProgress, Row]:
        """Pack the order's parcel: every unit counted, or the missing ones overridden with a reason.

        The caller checks the override permission; this method only refuses an incomplete pack
        without a reason. Missing units are stored as `override` scans, so the scan log accounts
        for every unit that left in the box.
        """
        with self.transaction() as cur:
            status = self._lock_packable(cur, order_id, packable_statuses)
            parcels = self._unpacked_parcels(cur, order_id)
            if not parcels:
                raise PackingRefused(
                    order_id, "the label is not bought yet: the parcel can be packed once its label is stored",
                    status=status,
                )
            session = self._open_session(cur, order_id, packer)
            progress = self._progress(cur, order_id, session["id"])
            reason = (override_reason or "").strip() or None
            if not progress.complete:
                if reason is None:
                    raise PackingRefused(
                        order_id, f"{progress.expected - progress.counted} unit(s) not scanned yet", status=status
                    )
                for line in progress.lines:
                    if not line.in_catalog:
                        # Nothing to scan for a SKU the catalog does not know: log the line's units.
                        for _ in range(line.quantity):
                            self._insert_scan(
                                cur, session["id"], order_id, "(not in catalog)", OVERRIDE, packer,
                                order_line_id=line.order_line_id, detail={"reason": reason},
                            )
                for component in progress.components():
                    for _ in range(component.remaining):
                        self._insert_scan(
                            cur, session["id"], order_id, component.barcode or "(no barcode)", OVERRIDE, packer,
                            order_line_id=component.order_line_id, component_id=component.component_id,
                            detail={"reason": reason},
                        )
                        component.counted += 1
            else:
                reason = None  # nothing was overridden: do not record a reason that explains nothing
            packed = self._pack(cur, order_id, session["id"], packer, progress, parcels, override_reason=reason)
            return progress, packed

    def record_label_print(self, order_id: str, shipment_id: int, *, printed_by: str) -> Row:
        row = self.fetch_one(
            "pack_insert_label_print", {"order_id": order_id, "shipment_id": shipment_id, "printed_by": printed_by}
        )
        assert row is not None  # INSERT ... RETURNING always returns the row
        return row

    # -- internals --------------------------------------------------------------------------
    def _lock_packable(self, cur: RealDictCursor, order_id: str, packable_statuses: Sequence[str]) -> str:
        # The order row lock is what serialises scans of one order (see the module docstring).
        self.run(cur, "lock_order_status", {"order_id": order_id})
        row = cur.fetchone()
        if row is None:
            raise PackingRefused(order_id, "unknown order")
        status: str = row["current_status"]
        if status in lifecycle.ENDED:
            raise PackingRefused(order_id, f"{status} at Best Buy: do not ship (put the items back)", status=status)
        if status not in packable_statuses:
            raise PackingRefused(order_id, f"the order is {status or 'new'}, not ready to pack", status=status)
        if not self._unpacked_parcels(cur, order_id) and self._packed_already(cur, order_id):
            raise PackingRefused(order_id, "the parcel is packed already", status=status)
        return status

    def _unpacked_parcels(self, cur: RealDictCursor, order_id: str) -> list[Row]:
        self.run(cur, "pack_unpacked_parcels", {"order_id": order_id})
        return [dict(r) for r in cur.fetchall()]

    def _packed_already(self, cur: RealDictCursor, order_id: str) -> bool:
        self.run(cur, "pack_latest_session", {"order_id": order_id})
        row = cur.fetchone()
        return row is not None and row["status"] == "packed"

    def _open_session(self, cur: RealDictCursor, order_id: str, packer: str) -> Row:
        self.run(cur, "pack_open_session_create", {"order_id": order_id, "packer": packer})
        created = cur.fetchone()
        if created is not None:
            return dict(created)
        self.run(cur, "pack_open_session_lock", {"order_id": order_id})
        return self.returned_row(cur)

    def _session_for_progress(self, cur: RealDictCursor, order_id: str) -> Row | None:
        self.run(cur, "pack_open_session_get", {"order_id": order_id})
        row = cur.fetchone()
        if row is None:
            self.run(cur, "pack_latest_session", {"order_id": order_id})
            row = cur.fetchone()
        return dict(row) if row is not None else None

    def _progress(self, cur: RealDictCursor, order_id: str, session_id: int | None) -> PackProgress:
        self.run(cur, "pack_expected_components", {"order_id": order_id})
        lines: dict[str, PackLine] = {}
        for r in cur.fetchall():
            line = lines.get(r["order_line_id"])
            if line is None:
                line = lines[r["order_line_id"]] = PackLine(
                    r["order_line_id"], r["line_index"], r["offer_sku"], r["title"], r["line_quantity"]
                )
            if r["component_id"] is not None:
                line.components.append(
                    ExpectedComponent(
                        r["order_line_id"], r["component_id"], r["barcode"], r["component_name"], r["expected"]
                    )
                )
        if session_id is not None:
            self.run(cur, "pack_session_counts", {"session_id": session_id})
            counts = {(r["order_line_id"], r["component_id"]): r["counted"] for r in cur.fetchall()}
            for line in lines.values():
                for c in line.components:
                    c.counted = counts.get((line.order_line_id, c.component_id), 0)
        return PackProgress(list(lines.values()))

    def _stored_scan(self, cur: RealDictCursor, session_id: int, client_id: str | None) -> ScanOutcome | None:
        if not client_id:
            return None
        self.run(cur, "pack_scan_by_client_id", {"session_id": session_id, "client_id": client_id})
        row = cur.fetchone()
        if row is None:
            return None
        return ScanOutcome(
            row["barcode"], row["result"], row["detail"].get("message") or row["result"], row["id"],
            row["order_line_id"], row["component_id"], client_id, replayed=True,
        )

    def _scan(
        self, cur: RealDictCursor, order_id: str, session_id: int, raw: str, packer: str, progress: PackProgress,
        client_id: str | None = None,
    ) -> ScanOutcome:
        """Classify one code against what is still expected, store it, count it if it fits."""
        code = (raw or "").strip()[:MAX_BARCODE_LENGTH]
        result, message, component, detail = self._classify(cur, code, progress)
        if result == OK and component is not None:
            component.counted += 1
            message = f"{component.name}: {component.counted} of {component.expected}"
        detail = {**detail, "message": message}
        if client_id:
            detail["client_scan_id"] = client_id
        scan_id = self._insert_scan(
            cur, session_id, order_id, code, result, packer,
            order_line_id=component.order_line_id if component else None,
            component_id=component.component_id if component else None,
            detail=detail,
        )
        return ScanOutcome(
            code, result, message, scan_id,
            component.order_line_id if component else None,
            component.component_id if component else None,
            client_id,
        )

    def _classify(
        self, cur: RealDictCursor, code: str, progress: PackProgress
    ) -> tuple[str, str, ExpectedComponent | None, dict[str, Any]]:
        matching = [c for c in progress.components() if c.barcode == code]
        if matching:
            # The same box can belong to two lines (a mouse in a bundle and on its own): fill the
            # first line that still needs one.
            open_component = next((c for c in matching if c.remaining > 0), None)
            if open_component is not None:
                return OK, "", open_component, {}
            total = sum(c.expected for c in matching)
            return (
                EXTRA_UNIT,
                f"Extra unit: {matching[0].name} is already complete ({total} of {total}). Not counted.",
                matching[0],
                {},
            )
        self.run(cur, "pack_barcode_known", {"barcode": code})
        known = cur.fetchone()
        if known is not None:
            return (
                WRONG_ITEM,
                f"Wrong item: {known['name']} ({barcode_hint(code)}) is not in this order. Not counted.",
                None,
                {"catalog_sku": known["sku"]},
            )
        return UNKNOWN_CODE, f"Unknown code {code or '(empty)'}: not in the catalog. Not counted.", None, {}
    def _insert_scan(
        self,
        cur: RealDictCursor,
        session_id: int,
        order_id: str,
        barcode: str,
        result: str,
        packer: str,
        *,
        order_line_id: str | None = None,
        component_id: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        self.run(
            cur,
            "pack_insert_scan",
            {
                "session_id": session_id,
                "order_id": order_id,
                "barcode": barcode,
                "order_line_id": order_line_id,
                "component_id": component_id,
                "result": result,
                "scanned_by": packer,
                "detail": jsonb(detail or {}),
            },
        )
        scan_id: int = self.returned_row(cur)["id"]
        return scan_id

    def _pack(
        self, cur: RealDictCursor, order_id: str, session_id: int, packer: str, progress: PackProgress,
        parcels: Sequence[Row], *, override_reason: str | None,
    ) -> Row:
        """Close the session and mark the parcel packed, in the transaction of the last scan, so
        "packed" and "all units verified (or overridden)" are never seen one without the other. The
        order's status does not move (packing is not a link in the chain, see orderflow.lifecycle):
        who packed what and when is the session (packer, completed_at, shipment_id)."""
        parcel = parcels[0]  # one package per order today; the session names the one it packed
        self.run(
            cur,
            "pack_close_session",
            {
                "session_id": session_id,
                "override_reason": override_reason,
                "override_by": packer if override_reason else None,
                "shipment_id": parcel["id"],
            },
        )
        closed = self.returned_row(cur)
        for p in parcels:
            self.run(cur, "pack_mark_parcel", {"session_id": session_id, "shipment_id": p["id"]})
        closed["units"] = progress.expected
        return closed
