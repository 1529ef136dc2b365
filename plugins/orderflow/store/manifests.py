"""Canada Post end of day: daily groups, transmits and manifests (migration 013).

The group protocol (see orderflow.operators.end_of_day):

- the shipping step names an intent's group right before its create POST, under the package's
  advisory lock: the open group of the label's mailing day, share-locked in that transaction, or a
  new one (``YYYYMMDD-N``);
- the close of day first sets the day's open groups ``closed`` (that UPDATE waits for any such
  transaction; a label after it joins the next group), then waits until no create of the group is in
  flight (the packages' advisory locks), then commits ``transmitting`` (the intent) and transmits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from orderflow import lifecycle
from orderflow.store.base import Row, StoreBase, jsonb

GS = lifecycle.GroupStatus


class ManifestsMixin(StoreBase):
    # -- the shipping step -----------------------------------------------------------------------
    def assign_shipping_group(
        self, customer_request_id: str, mailing_date: date, cutoff_at: datetime | None = None
    ) -> str:
        """Put the intent in the open group of ``mailing_date`` (creating the day's next group, due by
        ``cutoff_at``, when none is open) and return the group id."""
        for _ in range(20):
            with self.transaction() as cur:
                self.run(cur, "eod_open_group", {"mailing_date": mailing_date})
                row = cur.fetchone()
                if row is None:
                    self.run(cur, "eod_lock_mailing_date", {"mailing_date": mailing_date})
                    self.run(cur, "eod_open_group", {"mailing_date": mailing_date})  # opened meanwhile?
                    row = cur.fetchone()
                if row is None:
                    self.run(cur, "eod_new_group", {"mailing_date": mailing_date, "cutoff_at": cutoff_at})
                    row = cur.fetchone()
                    if row is None:
                        continue  # another session made it meanwhile: look again
                group_id: str = row["group_id"]
                self.run(cur, "eod_set_shipment_group",
                         {"group_id": group_id, "customer_request_id": customer_request_id})
                if cur.fetchone() is None:
                    raise RuntimeError(f"{customer_request_id}: no intent row to put in group {group_id}")
                return group_id
        raise RuntimeError(f"could not open a group for {mailing_date} (20 tries)")

    def shipping_group(self, group_id: str) -> Row | None:
        return self.fetch_one("eod_group", {"group_id": group_id})

    def group_of_shipment(self, shipment_row_id: int) -> Row | None:
        return self.fetch_one("eod_group_of_shipment", {"id": shipment_row_id})

    # -- the close of day ----------------------------------------------------------------------------
    def close_groups(self, through: date, *, closed_by: str) -> list[Row]:
        return self.fetch_all("eod_close_groups", {"through": through, "closed_by": closed_by})

    def unsettled_groups(self, through: date) -> list[Row]:
        statuses = lifecycle.values(frozenset({GS.CLOSED, GS.TRANSMITTING}))
        return self.fetch_all("eod_unsettled_groups", {"through": through, "statuses": statuses})

    def group_contents(self, group_id: str, statuses: Sequence[str]) -> list[Row]:
        return self.fetch_all("eod_group_contents", {"group_id": group_id, "statuses": list(statuses)})

    def mark_group_transmitting(self, group_id: str) -> Row | None:
        return self.fetch_one("eod_mark_transmitting", {"group_id": group_id})

    def mark_group(
        self,
        group_id: str,
        status: str,
        *,
        from_statuses: Sequence[str],
        doubt: Mapping[str, Any] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Row | None:
        return self.fetch_one("eod_mark_group", {
            "group_id": group_id, "status": status, "from_statuses": list(from_statuses),
            "doubt": jsonb(dict(doubt)) if doubt is not None else None,
            "detail": jsonb(dict(detail)) if detail is not None else None,
        })

    # -- manifests -----------------------------------------------------------------------------------
    def known_manifests(self, manifest_ids: Sequence[str]) -> dict[str, str | None]:
        rows = self.fetch_all("eod_manifest_ids", {"manifest_ids": list(manifest_ids)})
        return {r["manifest_id"]: r["group_id"] for r in rows}

    def groups_of_shipments(self, shipment_ids: Sequence[str]) -> list[str]:
        rows = self.fetch_all("eod_groups_of_shipments", {"shipment_ids": list(shipment_ids)})
        return sorted(r["group_id"] for r in rows)

    def record_manifest(
        self,
        *,
        manifest_id: str,
        group_id: str | None,
        po_number: str | None,
        links: Mapping[str, str],
        manifest_date: date | str | None,
        customer_ref: str | None,
        total_due: Decimal | None,
        shipment_ids: Sequence[str],
        found_by: str,
    ) -> tuple[Row, list[Row]]:
        """The manifest row and the shipments of ours it holds, in one transaction."""
        with self.transaction() as cur:
            self.run(cur, "eod_upsert_manifest", {
                "manifest_id": manifest_id, "group_id": group_id, "po_number": po_number,
                "links": jsonb(dict(links)), "manifest_date": manifest_date or None,
                "customer_ref": customer_ref, "total_due": total_due,
                "shipment_count": len(shipment_ids), "found_by": found_by,
            })
            manifest = self.returned_row(cur)
            self.run(cur, "eod_attach_shipments",
                     {"manifest_row_id": manifest["id"], "shipment_ids": list(shipment_ids)})
            attached = [dict(r) for r in cur.fetchall()]
        return manifest, attached

    def manifests_to_store(self) -> list[Row]:
        return self.fetch_all("eod_manifests_to_store")

    def mark_manifest(
        self,
        manifest_row_id: int,
        status: str,
        *,
        pdf_path: str | None = None,
        pdf_sha256: str | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> Row | None:
        return self.fetch_one("eod_mark_manifest", {
            "id": manifest_row_id, "status": status, "pdf_path": pdf_path, "pdf_sha256": pdf_sha256,
            "error": jsonb(dict(error)) if error is not None else None,
        })

    # -- the "Close the day" page --------------------------------------------------------------------
    def day_groups(self, since: date) -> list[Row]:
        return self.fetch_all("eod_page_groups", {
            "since": since, "live": lifecycle.values(lifecycle.LIVE),
            "unsettled": lifecycle.values(lifecycle.GROUP_UNSETTLED),
        })

    def manifests_of_groups(self, group_ids: Sequence[str]) -> list[Row]:
        return self.fetch_all("eod_page_manifests", {"group_ids": list(group_ids)})

    def manifest(self, manifest_row_id: int) -> Row | None:
        return self.fetch_one("eod_manifest", {"id": manifest_row_id})

    def record_manifest_print(self, manifest_row_id: int, *, printed_by: str) -> Row | None:
        return self.fetch_one("eod_manifest_printed", {"id": manifest_row_id, "printed_by": printed_by})
