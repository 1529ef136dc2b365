"""The Developer Portal's JSON as a view of the XML v8 documents.

Canada Post's portal JSON schema sits behind a login. Public 2025-26 integrations use the camelCase
forms of the XML v8 element names (``deliverySpec.parcelCharacteristics.weight``), so the sandbox
*derives* the JSON from the XML schema instead of inventing a second one:

- request JSON -> v8 XML element tree (camelCase -> kebab-case) -> validated by the same XSD as the
  XML gateway, so both flavours enforce one schema; a rejected field is reported by its JSON path;
- response XML tree -> JSON (kebab-case -> camelCase).

Derived (unconfirmed) conventions, chosen to be the least surprising for a client:
- a request body is the root element's content (``{"groupId": ..., "deliverySpec": ...}``); the
  wrapped form ``{"shipment": {...}}`` is accepted too;
- list wrappers are JSON arrays: ``options: [{optionCode, optionAmount}]``, ``groupIds: ["g"]``,
  ``excludedShipments: ["id"]``, ``skuList: [...]``, ``links: [{rel, href, mediaType, index}]``,
  ``pricedOptions``, ``adjustments``; a request may also use the literal nesting
  (``options: {option: [...]}``);
- in a response root, repeated children become a plural array: ``links`` (Get Shipments,
  manifests), ``groups``, ``pinSummaries`` (tracking summary);
- leaf values are strings except ``true``/``false`` (booleans); amounts stay strings so no
  precision is lost; a request may send numbers and booleans;
- keys must be camelCase exactly (``delivery-spec`` or ``DeliverySpec`` are rejected), nulls are
  treated as absent.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from lxml import etree

from sandbox.canadapost.wire import CODE_SERVER, Message, SchemaViolation, element, sub

# wrapper element -> its repeated item element
WRAPPERS = {
    "options": "option",
    "group-ids": "group-id",
    "excluded-shipments": "shipment-id",
    "sku-list": "item",
    "links": "link",
    "priced-options": "priced-option",
    "adjustments": "adjustment",
    "significant-events": "occurrence",
    "delivery-options": "item",
}
# repeated children directly under a response root -> JSON array key
PLURALS = {"link": "links", "group": "groups", "pin-summary": "pinSummaries"}
ROOT_LISTS = {
    "shipments": "links",
    "non-contract-shipments": "links",
    "manifests": "links",
    "groups": "groups",
    "tracking-summary": "pinSummaries",
}

_UPPER = re.compile(r"(?<=[a-z0-9])([A-Z])")
_DIGITS = re.compile(r"(?<=[A-Za-z])(\d+)")
_QNAME = re.compile(r"\{[^}]*\}([A-Za-z0-9.-]+)")


def camel_to_kebab(name: str) -> str:
    return _DIGITS.sub(r"-\1", _UPPER.sub(r"-\1", name)).lower()


def kebab_to_camel(name: str) -> str:
    head, *rest = name.split("-")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


class JsonMappingError(Exception):
    def __init__(self, messages: list[Message]) -> None:
        super().__init__("; ".join(m.description for m in messages))
        self.messages = messages


MAPPING_HINT = (
    " The portal's JSON field names are derived from the XML v8 schema (camelCase of the element "
    "names): if the field is spelt as intended, this may be a mapping problem, not the seller's data."
)


class JsonDocument:
    """A request JSON body converted to the XML element tree its XSD validates."""

    def __init__(self, obj: Any, namespace: str, root_name: str) -> None:
        self.namespace = namespace
        self.root_name = root_name
        self.root = element(namespace, root_name)
        self._built: list[tuple[etree._Element, str]] = []
        self._errors: list[Message] = []
        wrapped = kebab_to_camel(root_name)
        if isinstance(obj, dict) and list(obj) == [wrapped] and isinstance(obj[wrapped], dict):
            obj = obj[wrapped]
        if not isinstance(obj, dict):
            raise JsonMappingError([Message(CODE_SERVER, "The request body must be a JSON object.")])
        self._object(self.root, obj, "")
        if self._errors:
            raise JsonMappingError(self._errors)
        tree = self.root.getroottree()
        self.paths = {tree.getpath(el): path for el, path in self._built}

    def _object(self, parent: etree._Element, obj: dict, path: str) -> None:
        for key, value in obj.items():
            here = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str) or not key or kebab_to_camel(camel_to_kebab(key)) != key:
                self._errors.append(
                    Message(CODE_SERVER, f"{here}: field names must be camelCase (e.g. deliverySpec).{MAPPING_HINT}")
                )
                continue
            self._add(parent, camel_to_kebab(key), value, here)

    def _add(self, parent: etree._Element, name: str, value: Any, path: str) -> None:
        if value is None:
            return
        if isinstance(value, list):
            item = WRAPPERS.get(name)
            if item is not None:
                wrapper = sub(parent, name)
                self._built.append((wrapper, path))
                for i, entry in enumerate(value):
                    self._add(wrapper, item, entry, f"{path}[{i}]")
            else:
                for i, entry in enumerate(value):
                    self._add(parent, name, entry, f"{path}[{i}]")
            return
        el = sub(parent, name)
        self._built.append((el, path))
        if isinstance(value, dict):
            self._object(el, value, path)
        elif isinstance(value, bool):
            el.text = "true" if value else "false"
        elif isinstance(value, int | Decimal):
            el.text = format(value, "f") if isinstance(value, Decimal) else str(value)
        elif isinstance(value, float):
            el.text = repr(value)
        elif isinstance(value, str):
            el.text = value
        else:
            self._errors.append(Message(CODE_SERVER, f"{path}: unsupported JSON value."))

    def describe(self, violation: SchemaViolation) -> Message:
        """A schema violation in JSON terms: the field's JSON path, names in camelCase."""
        path = None
        if violation.element is not None:
            path = self.paths.get(violation.element.getroottree().getpath(violation.element))
        text = _QNAME.sub(lambda m: kebab_to_camel(m.group(1)), violation.text)
        text = re.sub(r"^Element '([^']*)': ", "", text)
        where = path or "(body)"
        hint = MAPPING_HINT if ("not expected" in text or "Missing child" in text) else ""
        return Message(CODE_SERVER, f"{where}: {text}{hint}")


def xml_to_json(root: etree._Element) -> Any:
    name = _local(root)
    out = _value(root, is_root=True)
    if name in ROOT_LISTS and isinstance(out, dict):
        out.setdefault(ROOT_LISTS[name], [])
    return out


def _scalar(text: str | None) -> Any:
    if text is None:
        return ""
    if text in ("true", "false"):
        return text == "true"
    return text


def _value(el: etree._Element, is_root: bool = False) -> Any:
    children = list(el)
    name = _local(el)
    if el.attrib:
        out: dict[str, Any] = {}
        for key, value in el.attrib.items():
            k = kebab_to_camel(str(key))
            out[k] = int(value) if k == "index" and str(value).isdigit() else value
        return out
    if not children:
        if is_root:
            return {}
        return _scalar(el.text)
    if not is_root and name in WRAPPERS and all(_local(c) == WRAPPERS[name] for c in children):
        return [_value(c) for c in children]
    result: dict[str, Any] = {}
    for child in children:
        cname = _local(child)
        if cname in PLURALS:
            result.setdefault(PLURALS[cname], []).append(_value(child))
        else:
            result[kebab_to_camel(cname)] = _value(child)
    return result
