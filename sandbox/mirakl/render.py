"""The Mirakl sandbox's documents: orders, order lines and inbox threads shaped as the OpenAPI
(``reference/mirakl-mmp-seller-openapi.json``) describes them, plus the carriers (SH21) and the taxes
an order carries. Pure functions of their arguments: :mod:`sandbox.mirakl.state` decides what
exists and when, and stores what these build.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from sandbox.catalog import PRODUCTS_BY_SKU
from sandbox.generator import GeneratedOrder
from sandbox.mirakl.wire import iso, money

# SH21. CPCL = Canada Post, as in two independent Best Buy CA integrations (API sheet §6).
CARRIERS: list[dict[str, str]] = [
    {"code": "CPCL", "label": "Canada Post", "standard_code": "CPCL",
     "tracking_url": "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={trackingId}"},
    {"code": "PRLA", "label": "Purolator", "standard_code": "PRLA",
     "tracking_url": "https://www.purolator.com/en/shipping/tracker?pin={trackingId}"},
    {"code": "UPSN", "label": "UPS", "standard_code": "UPSN",
     "tracking_url": "https://www.ups.com/track?loc=en_CA&tracknum={trackingId}"},
    {"code": "FEDX", "label": "FedEx", "standard_code": "FEDX",
     "tracking_url": "https://www.fedex.com/fedextrack/?trknbr={trackingId}"},
    {"code": "CPAR", "label": "Canpar", "standard_code": "CPAR",
     "tracking_url": "https://www.canpar.com/en/tracking/delivery_options.htm?barcode={trackingId}"},
]
CARRIERS_BY_CODE = {carrier["code"]: carrier for carrier in CARRIERS}

# Provincial sales tax on a Best Buy CA order (rates of 2024; the sandbox only needs plausible).
TAXES: dict[str, list[tuple[str, float]]] = {
    "ON": [("HST", 13.0)], "NB": [("HST", 15.0)], "NL": [("HST", 15.0)], "NS": [("HST", 14.0)],
    "PE": [("HST", 15.0)], "QC": [("GST", 5.0), ("QST", 9.975)], "BC": [("GST", 5.0), ("PST", 7.0)],
    "MB": [("GST", 5.0), ("RST", 7.0)], "SK": [("GST", 5.0), ("PST", 6.0)], "AB": [("GST", 5.0)],
    "NT": [("GST", 5.0)], "NU": [("GST", 5.0)], "YT": [("GST", 5.0)],
}


def order_line_document(
    order_id: str, index: int, sku: str, quantity: int, taxes: list[tuple[str, float]], created: float
) -> dict[str, Any]:
    """One OR11 order line, as the order is created (WAITING_ACCEPTANCE)."""
    product = PRODUCTS_BY_SKU[sku]
    price = money(product["price"] * quantity)
    commission = money(price * 0.08)
    line_taxes = [
        {"amount": money(price * rate / 100), "code": code, "rate": rate,
         "tax_calculation_rule": "PROPORTIONAL_TO_AMOUNT"}
        for code, rate in taxes
    ]
    return {
        "order_line_id": f"{order_id}-{index}",
        "order_line_index": index,
        "order_line_state": "WAITING_ACCEPTANCE",
        "order_line_state_reason_code": None,
        "order_line_state_reason_label": None,
        "offer_id": 3000 + list(PRODUCTS_BY_SKU).index(sku),
        "offer_sku": sku,
        "offer_state_code": "11",  # "New"
        "product_sku": product["product_sku"],
        "product_shop_sku": sku,
        "product_title": product["name"],
        "product_medias": [],
        "category_code": product["category_code"],
        "category_label": product["category_label"],
        "description": None,
        "quantity": quantity,
        "price_unit": product["price"],
        "origin_unit_price": product["price"],
        "price": price,
        "price_additional_info": None,
        "shipping_price": 0.0,
        "shipping_taxes": [],
        "taxes": line_taxes,
        "total_price": price,
        "commission_fee": commission,
        "commission_rate_vat": 13.0,
        "commission_vat": money(commission * 0.13),
        "commission_taxes": [{"amount": money(commission * 0.13), "code": "HST", "rate": 13.0}],
        "total_commission": money(commission * 1.13),
        "can_refund": False,
        "cancelations": [],
        "refunds": [],
        "fees": [],
        "promotions": [],
        "order_line_additional_fields": [],
        "created_date": iso(created),
        "last_updated_date": iso(created),
        "debited_date": None,
        "shipped_date": None,
        "received_date": None,
    }


def order_document(
    order_id: str,
    commercial_id: str,
    created: float,
    order_lines: list[dict[str, Any]],
    generated: GeneratedOrder,
    leadtime_to_ship: int,
    notification_email: str,
) -> dict[str, Any]:
    """A new OR11 order (WAITING_ACCEPTANCE): no address until the debit, no tracking yet."""
    price = money(sum(line["price"] for line in order_lines))
    total_commission = money(sum(line["total_commission"] for line in order_lines))
    deadline = datetime.fromtimestamp(created + leadtime_to_ship * 86400, UTC)
    customer = dict(generated.customer)
    customer.update({"civility": None, "shipping_address": None, "billing_address": None})
    return {
        "order_id": order_id,
        "commercial_id": commercial_id,
        "order_state": "WAITING_ACCEPTANCE",
        "order_state_reason_code": None,
        "order_state_reason_label": None,
        "created_date": iso(created),
        "last_updated_date": iso(created),
        "acceptance_decision_date": None,
        "customer_debited_date": None,
        "shipping_deadline": deadline.strftime("%Y-%m-%dT23:59:59.999Z"),
        "leadtime_to_ship": leadtime_to_ship,
        "can_cancel": False,
        "can_shop_ship": False,
        "has_customer_message": False,
        "has_incident": False,
        "has_invoice": False,
        "fully_refunded": False,
        "customer": customer,
        "customer_notification_email": notification_email,
        "channel": {"code": "BBCA", "label": "Best Buy Canada"},
        "currency_iso_code": "CAD",
        "order_tax_mode": "TAX_EXCLUDED",
        "order_taxes": [],
        "payment_type": "Credit card",
        "paymentType": "Credit card",  # required by the OpenAPI though deprecated
        "payment_workflow": "PAY_ON_ACCEPTANCE",
        "price": price,
        "shipping_price": 0.0,
        "total_price": price,
        "total_commission": total_commission,
        "shipping_type_code": generated.shipping_type_code,
        "shipping_type_label": generated.shipping_type_label,
        "shipping_zone_code": "CA",
        "shipping_zone_label": "Canada",
        "shipping_carrier_code": None,
        "shipping_carrier_standard_code": None,
        "shipping_company": None,
        "shipping_tracking": None,
        "shipping_tracking_url": None,
        "shipping_pudo_id": None,
        "fulfillment": {"center": {"code": "DEFAULT"}},
        "references": {"order_reference_for_customer": None, "order_reference_for_seller": None},
        "promotions": {"applied_promotions": [], "total_deduced_amount": 0},
        "order_additional_fields": [],
        "quote_id": None,
        "delivery_date": None,
        "order_lines": order_lines,
    }


def display_name(customer: dict[str, Any]) -> str:
    return f"{customer['firstname']} {customer['lastname'][:1]}."


def thread_document(
    thread_id: str, order: dict[str, Any], shop_id: int, shop_name: str, subject: str, at: float
) -> dict[str, Any]:
    """A new inbox thread about ``order``: the shop and the customer take part, the operator may."""
    customer = order["customer"]
    participants = [
        {"type": "SHOP", "id": str(shop_id), "display_name": shop_name},
        {"type": "CUSTOMER", "id": customer["customer_id"], "display_name": display_name(customer)},
    ]
    return {
        "id": thread_id,
        "topic": {"type": "FREE_TEXT", "value": subject},
        "entities": [{"id": order["order_id"], "type": "MMP_ORDER", "label": order["commercial_id"]}],
        "authorized_participants": [
            *participants, {"type": "OPERATOR", "display_name": "Best Buy Marketplace"}
        ],
        "current_participants": copy.deepcopy(participants),
        "date_created": iso(at, millis=True),
        "date_updated": iso(at, millis=True),
        "metadata": {"last_message_date": None, "last_sender": None, "shop_reply_needed_since": None,
                     "total_count": 0},
        "no_store_reply_needed": [],
        "messages": [],
        "_updated_ts": at,
    }


def thread_view(thread: dict[str, Any], with_messages: bool, last: int | None = None) -> dict[str, Any]:
    """A thread as M10/M11 answer it: without the sandbox's own ``_`` keys, messages on request."""
    view = {k: v for k, v in thread.items() if not k.startswith("_") and k != "messages"}
    if with_messages:
        messages = thread["messages"]
        view["messages"] = messages[-last:] if last else messages
    return view
