"""Canada Post's XML wire format: namespaces, media types, the official XSDs and error bodies.

Both flavours (the legacy XML gateway and the Developer Portal's JSON) validate against the same
compiled schemas from ``xsd/`` (copies of ``../shared/reference/canadapost-xsd``, so the repo works
from a fresh clone). Nothing here knows about HTTP routing or state.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from lxml import etree

XSD_DIR = Path(__file__).resolve().parent / "xsd"

NS_SHIPMENT = "http://www.canadapost.ca/ws/shipment-v8"
NS_NCSHIPMENT = "http://www.canadapost.ca/ws/ncshipment-v4"
NS_MANIFEST = "http://www.canadapost.ca/ws/manifest-v8"
NS_MESSAGES = "http://www.canadapost.ca/ws/messages"
NS_TRACK = "http://www.canadapost.ca/ws/track"

MT_SHIPMENT = "application/vnd.cpc.shipment-v8+xml"
MT_NCSHIPMENT = "application/vnd.cpc.ncshipment-v4+xml"
MT_MANIFEST = "application/vnd.cpc.manifest-v8+xml"
MT_TRACK = "application/vnd.cpc.track-v2+xml"
MT_PDF = "application/pdf"
MT_ZPL = "application/zpl"
MT_JSON = "application/json"

SCHEMA_FILES = {
    NS_SHIPMENT: "shipment.xsd",
    NS_NCSHIPMENT: "ncshipment.xsd",
    NS_MANIFEST: "manifest.xsd",
    NS_MESSAGES: "messages.xsd",
    NS_TRACK: "track.xsd",
}

# The code the gateway puts on schema violations and other request-level faults. Public client
# code types the message code as "number | 'Server'", and the SLM throttle reply uses it too; where
# the sheet documents no specific code for a rejection, the sandbox uses this one.
CODE_SERVER = "Server"

# Hardened parser: request bodies are untrusted (no entities, no network, no huge trees).
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)


# libxml2 schema compilation and validation (with the schema's shared error_log) are not safe from
# several request threads at once: concurrent first creates crashed the process (a segfault) or
# failed with "xmlSchemaPValAttrNodeValue" internal errors. One lock serialises both.
_SCHEMA_LOCK = threading.RLock()


@cache
def _compiled(namespace: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_DIR / SCHEMA_FILES[namespace])))


def schema(namespace: str) -> etree.XMLSchema:
    """The compiled official XSD for a namespace (compiled once per process)."""
    with _SCHEMA_LOCK:
        return _compiled(namespace)


@dataclass
class Message:
    code: str
    description: str


@dataclass
class CPError(Exception):
    """A rejection in Canada Post's terms; each flavour renders it in its own error shape."""

    status: int
    messages: list[Message] = field(default_factory=list)
    # Extra headers (e.g. none for throttling: the gateway is not known to send Retry-After).
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def one(cls, status: int, code: str, description: str) -> CPError:
        return cls(status, [Message(code, description)])

    def __str__(self) -> str:
        return f"{self.status} " + "; ".join(f"{m.code}: {m.description}" for m in self.messages)


def q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def sub(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    """Append a child in the parent's namespace."""
    ns = etree.QName(parent).namespace
    child = etree.SubElement(parent, q(ns, name) if ns else name, attrs)
    if text is not None:
        child.text = text
    return child


def element(namespace: str, name: str) -> etree._Element:
    return etree.Element(q(namespace, name), nsmap={None: namespace})


def to_bytes(elem: etree._Element) -> bytes:
    return etree.tostring(elem, xml_declaration=True, encoding="UTF-8")


def messages_xml(messages: list[Message]) -> bytes:
    root = element(NS_MESSAGES, "messages")
    for msg in messages:
        m = sub(root, "message")
        sub(m, "code", msg.code)
        sub(m, "description", msg.description)
    return to_bytes(root)


def parse_xml(body: bytes) -> etree._Element:
    """Parse a request body or raise the 400 the gateway gives for a non-XML body."""
    if not body.strip():
        raise CPError.one(400, CODE_SERVER, "The request body is empty; an XML document is required.")
    try:
        return etree.fromstring(body, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise CPError.one(400, CODE_SERVER, f"The request body is not well-formed XML: {exc}") from exc


@dataclass
class SchemaViolation:
    element: etree._Element | None  # the offending element, when libxml2 named one
    text: str  # libxml2's message, like the Xerces "cvc-..." text the real gateway returns


def violations(doc: etree._Element, namespace: str, root_name: str) -> list[SchemaViolation]:
    """Validate a request document; an empty list means valid.

    The root must be the one the call expects: the XSDs declare several global elements (e.g.
    shipment.xsd also declares ``shipment-info``), and a response document posted as a request is
    as wrong as a misspelt field.
    """
    expected = q(namespace, root_name)
    if doc.tag != expected:
        return [
            SchemaViolation(
                doc,
                f"Element '{doc.tag}': No matching global declaration available for the validation "
                f"root; expected {expected}.",
            )
        ]
    xsd = schema(namespace)
    with _SCHEMA_LOCK:
        if xsd.validate(doc):
            return []
        entries = list(xsd.error_log)
    out: list[SchemaViolation] = []
    for entry in entries:
        found: etree._Element | None = None
        if entry.path:
            try:
                hits = doc.getroottree().xpath(entry.path)
            except etree.XPathError:
                hits = []
            if hits and isinstance(hits[0], etree._Element):
                found = hits[0]
        out.append(SchemaViolation(found, entry.message))
    return out


def validate_response(doc: etree._Element) -> None:
    """Assert a document the sandbox produced is valid (a bug guard used by the tests)."""
    xsd = schema(etree.QName(doc).namespace or "")
    with _SCHEMA_LOCK:
        xsd.assertValid(doc)


def media_type_of(header: str | None) -> str:
    """``type/subtype`` without parameters, lower-cased ('' when absent)."""
    if not header:
        return ""
    return header.split(";", 1)[0].strip().lower()
