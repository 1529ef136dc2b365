"""Canada Post Developer Portal codec: JSON bodies whose keys are the camelCase of the XML v8 names.

The portal's own JSON schema sits behind a login, so this codec is *derived*: it takes the element tree
the XML builders produce (:mod:`orderflow.hooks.canadapost_xml`) and renames it mechanically, and it
turns JSON answers back into element trees so the same XML parsers read them. One mapping, two wires;
what the XSD checks on one side holds on the other.

Derivation rules (each one derived, not confirmed; the names below say which are confirmed):

- keys: ``address-line-1`` → ``addressLine1``, ``delivery-spec`` → ``deliverySpec`` (XML root dropped:
  the request body is the root element's content);
- values: ``true``/``false`` → JSON booleans; ``weight``, ``length``, ``width``, ``height``,
  ``option-amount`` → JSON numbers; everything else stays a string (postal codes, ids, contract ids);
- a container of one repeated element becomes a JSON array under the container's name:
  ``links``, ``options``, ``group-ids``, ``messages``, ``priced-options``, ``adjustments``,
  ``excluded-shipments``, ``sku-list``;
- a ``<link rel href media-type index/>`` becomes ``{"rel", "href", "mediaType", "index"}``.

**The names.** Confirmed by public integrations: ``deliverySpec``, ``parcelCharacteristics``,
``weight``, ``settlementInfo``, ``intendedMethodOfPayment``, ``groupId``, ``transmitShipment``,
``customerRequestId``. Derived, not confirmed: every other request key (``requestedShippingPoint``,
``providePricingInfo``, ``serviceCode``, ``sender``/``destination``/``name``/``company``/``contactPhone``/
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
:class:`~orderflow.hooks.canadapost_errors.CanadaPostFieldMappingError` (our mapping, not the seller's
data; :mod:`~orderflow.hooks.canadapost_wire` decides it with :func:`rejects_field_name`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from lxml import etree

from orderflow.hooks.canadapost_model import CarrierMessage
from orderflow.hooks.canadapost_xml import NS_SHIPMENT, XmlDecodeError, default_namespace

# container (XML) → its repeated child (XML)
CONTAINERS: dict[str, str] = {
    "links": "link",
    "options": "option",
    "group-ids": "group-id",
    "messages": "message",
    "priced-options": "priced-option",
    "adjustments": "adjustment",
    "excluded-shipments": "shipment-id",
    "sku-list": "item",
}
# Repeated children directly under an answer's root come as a plural array (``pinSummaries``).
PLURALS: dict[str, str] = {"pinSummaries": "pin-summary", "groups": "group"}
NUMERIC_FIELDS = frozenset({"weight", "length", "width", "height", "option-amount"})
LINK_ATTRIBUTES = ("rel", "href", "media-type", "index")

MT_JSON = "application/json"

# Phrases validators use when a field *name* is refused (Jackson, JSON Schema, IBM API Connect...).
_FIELD_NAME_REJECTED = re.compile(
    r"(unknown|unrecognized|unrecognised|unexpected|additional|invalid)\s+"
    r"(field|property|properties|element|key|attribute)s?"
    r"|not\s+(allowed|permitted|recognized|recognised)\s+(field|property)"
    r"|this element is not expected|missing child element|field names must be|mapping problem",
    re.IGNORECASE,
)


class JsonDecodeError(XmlDecodeError):
    """The portal answered something that is not the JSON we expected."""


def camel(name: str) -> str:
    """XML element name → portal JSON key (``customer-ref-1`` → ``customerRef1``)."""
    head, *rest = name.split("-")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def kebab(key: str) -> str:
    """Portal JSON key → XML element name (``customerRef1`` → ``customer-ref-1``)."""
    out = re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", key)
    out = re.sub(r"(?<=[A-Za-z])(\d)", r"-\1", out)
    return out.lower()


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


# --------------------------------------------------------------------------------------------
# element tree → JSON (requests)
# --------------------------------------------------------------------------------------------


def _leaf_value(name: str, text: str | None) -> Any:
    text = (text or "").strip()
    if text in ("true", "false"):
        return text == "true"
    if name in NUMERIC_FIELDS:
        number = float(text)
        return int(number) if number.is_integer() and "." not in text else number
    return text


def _link_to_json(link: etree._Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in LINK_ATTRIBUTES:
        value = link.get(attr)
        if value is not None:
            out[camel(attr)] = int(value) if attr == "index" else value
    return out


def element_to_json(el: etree._Element) -> dict[str, Any]:
    """The content of ``el`` as a JSON object (``el`` itself is not a key)."""
    out: dict[str, Any] = {}
    for child in el:
        tag: object = child.tag  # a function for comments and processing instructions (typed str by the stubs)
        if not isinstance(tag, str):
            continue
        name = _local(child)
        if name in CONTAINERS:
            item = CONTAINERS[name]
            out[camel(name)] = [
                _link_to_json(c) if item == "link" else _node_value(c) for c in child if _local(c) == item
            ]
        elif name == "link":
            out.setdefault("links", []).append(_link_to_json(child))
        else:
            out[camel(name)] = _node_value(child)
    return out


def _node_value(el: etree._Element) -> Any:
    if len(el):
        return element_to_json(el)
    return _leaf_value(_local(el), el.text)


def encode_request(root: etree._Element) -> bytes:
    """A portal request body from an XML builder's element."""
    return json.dumps(element_to_json(root), separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------------------------------------
# JSON → element tree (answers), so the XML parsers read them
# --------------------------------------------------------------------------------------------


def _text_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _add(parent: etree._Element, name: str, value: Any, ns: str) -> None:
    if value is None:
        return
    if name in CONTAINERS and isinstance(value, list):
        container = etree.SubElement(parent, f"{{{ns}}}{name}")
        for item in value:
            _add(container, CONTAINERS[name], item, ns)
        return
    if isinstance(value, list):
        for item in value:
            _add(parent, name, item, ns)
        return
    el = etree.SubElement(parent, f"{{{ns}}}{name}")
    if name == "link" and isinstance(value, dict):
        for key, attr_value in value.items():
            el.set(kebab(key), _text_of(attr_value))
        return
    if isinstance(value, dict):
        for key, child in value.items():
            _add(el, kebab(key), child, ns)
        return
    el.text = _text_of(value)


def json_to_element(obj: Any, root: str, ns: str = NS_SHIPMENT) -> etree._Element:
    """``obj`` (a portal answer) as the element ``root`` so an XML parser can read it.

    Accepts the object bare (``{"shipmentId": ...}``) or wrapped once in its root name
    (``{"shipmentInfo": {...}}``): which one the portal sends is unconfirmed.
    """
    if not isinstance(obj, dict):
        raise JsonDecodeError(f"expected a JSON object for {root}, got {type(obj).__name__}")
    wrapped = obj.get(camel(root))
    if len(obj) == 1 and isinstance(wrapped, dict):
        obj = wrapped
    el = etree.Element(f"{{{ns}}}{root}", nsmap=default_namespace(ns))
    for key, value in obj.items():
        _add(el, PLURALS.get(key) or kebab(key), value, ns)
    return el


def decode(body: bytes | str) -> Any:
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonDecodeError("answer is not UTF-8") from exc
    if not body.strip():
        raise JsonDecodeError("empty body")
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise JsonDecodeError(f"not valid JSON: {exc.msg} at {exc.pos}") from exc


def shipments_to_element(obj: Any) -> etree._Element:
    """A Get Shipments answer as ``<shipments>``: a list (of links or shipment infos) or an object with
    ``links`` / ``shipments`` / ``shipmentInfo`` arrays (all unconfirmed shapes are accepted)."""
    if isinstance(obj, dict) and len(obj) == 1 and isinstance(obj.get("shipments"), dict):
        obj = obj["shipments"]
    items: list[Any]
    if isinstance(obj, list):
        items = obj
    elif isinstance(obj, dict):
        items = []
        for key in ("links", "link", "shipments", "shipmentInfo", "shipmentInfos"):
            value = obj.get(key)
            if isinstance(value, list):
                items.extend(value)
            elif isinstance(value, dict):
                items.append(value)
    else:
        raise JsonDecodeError("Get Shipments answer is neither a list nor an object")
    root = etree.Element(f"{{{NS_SHIPMENT}}}shipments", nsmap=default_namespace(NS_SHIPMENT))
    for item in items:
        if not isinstance(item, dict):
            raise JsonDecodeError("Get Shipments item is not an object")
        if "href" in item:
            _add(root, "link", item, NS_SHIPMENT)
        else:
            info = json_to_element(item, "shipment-info")
            root.append(info)
    return root


def parse_messages(body: bytes | str | None) -> list[CarrierMessage]:
    """``{"messages": [{"code", "description"}]}`` (also ``{"messages": {"message": [...]}}`` and a
    bare list); [] when the body is not such a document."""
    if not body:
        return []
    try:
        obj = decode(body)
    except JsonDecodeError:
        return []
    raw: Any = obj.get("messages") if isinstance(obj, dict) else obj
    if isinstance(raw, dict):
        raw = raw.get("message", [])
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        return []
    return [
        CarrierMessage(code=str(m.get("code", "")), description=str(m.get("description", "")))
        for m in raw
        if isinstance(m, dict)
    ]


def rejects_field_name(messages: list[CarrierMessage]) -> bool:
    """Whether the portal refused one of our JSON *names* (our derived mapping), not a value."""
    return any(_FIELD_NAME_REJECTED.search(m.description) for m in messages)
