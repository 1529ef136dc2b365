"""Canada Post request/response model shared by both wire codecs (XML gateway and Developer Portal JSON).

Pure data: no I/O, no Airflow. Operators build a :class:`ShipmentRequest` and get back a
:class:`ShipmentInfo` whichever transport the connection selects; only
:mod:`orderflow.hooks.canadapost_xml` and :mod:`orderflow.hooks.canadapost_json` know the wire names.

Amounts are :class:`~decimal.Decimal` (money and kilograms must not pick up float noise on the way to
an XSD ``fractionDigits`` check).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

# Canada Post limits (shipment.xsd): customer-request-id and customer-ref-* are at most 35 chars.
CUSTOMER_REQUEST_ID_MAX = 35
GROUP_ID_MAX = 32


@dataclass(frozen=True)
class CarrierMessage:
    """One ``<message>`` (XML) or ``messages[]`` entry (JSON): a carrier code and its description."""

    code: str
    description: str

    def __str__(self) -> str:
        return f"{self.code}: {self.description}"


@dataclass(frozen=True)
class Address:
    """A destination (the buyer). Printed on the label; never logged."""

    name: str | None
    address_line_1: str
    city: str
    province: str
    postal_code: str
    country_code: str = "CA"
    company: str | None = None
    address_line_2: str | None = None
    phone: str | None = None
    additional_address_info: str | None = None


# The XSD calls the buyer's block <destination>; "recipient" is how people say it.
Recipient = Address


@dataclass(frozen=True)
class Sender:
    """The seller's return address (from the connection's sender extras). ``company`` and ``phone`` are
    required by the XSD."""

    company: str
    phone: str
    address_line_1: str
    city: str
    province: str
    postal_code: str
    name: str | None = None
    address_line_2: str | None = None
    country_code: str = "CA"


@dataclass(frozen=True)
class Parcel:
    """Weight in kg (3 decimals on the wire), dimensions in cm (1 decimal)."""

    weight_kg: Decimal
    length_cm: Decimal | None = None
    width_cm: Decimal | None = None
    height_cm: Decimal | None = None

    def __post_init__(self) -> None:
        # Normalise once so both codecs print the same digits the XSD allows.
        object.__setattr__(self, "weight_kg", quantize(self.weight_kg, 3))
        if self.weight_kg <= 0:
            raise ValueError("parcel weight must be > 0 kg")
        dims = (self.length_cm, self.width_cm, self.height_cm)
        if any(d is not None for d in dims) and not all(d is not None for d in dims):
            raise ValueError("give all three parcel dimensions or none")
        for name in ("length_cm", "width_cm", "height_cm"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, quantize(value, 1))

    @property
    def has_dimensions(self) -> bool:
        return self.length_cm is not None


@dataclass(frozen=True)
class References:
    """Printed references (``customer-ref-1/2``, ``cost-centre``); searchable by tracking-by-reference."""

    customer_ref_1: str | None = None
    customer_ref_2: str | None = None
    cost_centre: str | None = None


@dataclass(frozen=True)
class ShipmentRequest:
    """One parcel's label purchase. ``customer_request_id`` is the exactly-once key
    (``<order_id>-<package_no>``, at most 35 characters)."""

    destination: Address
    parcel: Parcel
    customer_request_id: str
    service_code: str | None = None  # None = the connection's default service_code
    group_id: str | None = None  # contract only; None = the connection's group strategy
    references: References = field(default_factory=References)
    expected_mailing_date: date | None = None
    notification_email: str | None = None

    def __post_init__(self) -> None:
        if not self.customer_request_id or len(self.customer_request_id) > CUSTOMER_REQUEST_ID_MAX:
            raise ValueError(
                f"customer_request_id must be 1..{CUSTOMER_REQUEST_ID_MAX} characters, "
                f"got {len(self.customer_request_id or '')}"
            )
        if self.group_id is not None and not 1 <= len(self.group_id) <= GROUP_ID_MAX:
            raise ValueError(f"group_id must be 1..{GROUP_ID_MAX} characters")


@dataclass(frozen=True)
class ShipmentInfo:
    """What Canada Post says about one shipment.

    ``links`` maps rel → href (``self``, ``details``, ``label``, ``refund``, ``price``, ``receipt`` …);
    store them as they are: the label/void/refund calls take these links back.
    ``contract`` tells whether it is a contract (v8) or non-contract (v4 ``ncshipment``) shipment.
    """

    shipment_id: str
    tracking_pin: str | None
    status: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    price: Decimal | None = None  # due-amount (tax included) when the carrier priced it
    customer_request_id: str | None = None
    po_number: str | None = None
    group_id: str | None = None
    contract: bool = True
    label_media_type: str | None = None  # media-type of the label link (application/pdf | application/zpl)
    #: Set by ``CanadaPostHook.create_shipment`` when it did not buy this shipment in this call but found
    #: it by its customer_request_id (an earlier purchase, or a create whose answer was lost) and adopted it.
    adopted: bool = False

    @property
    def self_link(self) -> str | None:
        return self.links.get("self")

    @property
    def label_link(self) -> str | None:
        return self.links.get("label")


@dataclass(frozen=True)
class ShipmentDetails:
    """The parts of ``shipment-details`` / ``non-contract-shipment-details`` recovery needs."""

    customer_request_id: str | None
    status: str | None
    tracking_pin: str | None
    group_id: str | None
    references: References


@dataclass(frozen=True)
class RefundInfo:
    service_ticket_id: str
    service_ticket_date: str | None = None
    already_requested: bool = False


@dataclass(frozen=True)
class TrackingSummary:
    """``pin-summary`` of Get Tracking Summary. Empty dates are None."""

    pin: str
    event_type: str | None = None
    event_description: str | None = None
    event_date_time: str | None = None  # carrier format YYYYMMDD:HHMMSS
    event_location: str | None = None
    mailed_on_date: str | None = None
    expected_delivery_date: str | None = None
    actual_delivery_date: str | None = None
    service_name: str | None = None
    destination_postal_id: str | None = None
    customer_ref_1: str | None = None
    customer_ref_2: str | None = None

    @property
    def delivered(self) -> bool:
        return bool(self.actual_delivery_date)


@dataclass(frozen=True)
class TransmitResult:
    """Links (rel ``manifest``) to the manifests a transmit produced."""

    manifest_links: list[str]


def quantize(value: Decimal | float | int | str, places: int) -> Decimal:
    """``value`` rounded half-up to ``places`` decimals (XSD ``fractionDigits``)."""
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def normalise_postal_code(value: str) -> str:
    """Canadian postal codes go on the wire as ``A9A9A9`` (no space, upper case)."""
    return value.replace(" ", "").replace("-", "").upper()
