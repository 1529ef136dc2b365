"""The product catalog: products (weight, box dimensions) and the component barcodes a packer scans."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from orderflow.store.base import Row, StoreBase


class CatalogMixin(StoreBase):
    def upsert_products(self, products: Iterable[Mapping[str, Any]]) -> int:
        """Load products and their component barcodes (e.g. the sandbox's demo catalog)."""
        product_rows = []
        component_rows = []
        for p in products:
            dims = p.get("dimensions_cm") or {}
            product_rows.append(
                (p["sku"], p["name"], p["weight_kg"], dims.get("length"), dims.get("width"), dims.get("height"))
            )
            for c in p.get("components") or []:
                component_rows.append((p["sku"], c["barcode"], c["name"], c.get("quantity", 1)))
        if not product_rows:
            return 0
        with self.transaction() as cur:
            self.execute_values(cur, "upsert_products", product_rows)
            if component_rows:
                self.execute_values(cur, "upsert_product_components", component_rows)
        return len(product_rows)

    def products_for_skus(self, skus: Sequence[str]) -> dict[str, Row]:
        return {r["sku"]: r for r in self.fetch_all("products_for_skus", {"skus": list(skus)})}
