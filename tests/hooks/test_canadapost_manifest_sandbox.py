"""The end-of-day wire against the Canada Post sandbox, on both transports: transmit with the group as
customer reference, Get Manifests by date, Get Manifest, its details and shipments, the manifest PDF
(validated), and a transmit whose answer is dropped after the sandbox committed: the read-back by
date finds the one manifest, and no second transmit is ever made by the hook."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from orderflow.hooks import canadapost_manifest as cpm
from orderflow.hooks._http import RetryPolicy
from orderflow.hooks.canadapost import CanadaPostHook, CanadaPostRetryableError
from orderflow.manifest_check import ManifestValidationError, validate_manifest_pdf
from sandbox.canadapost.state import EASTERN
from sandbox.testing import SandboxHandle, running_sandbox
from tests.hooks._cp_fixtures import SENDER_EXTRAS, shipment_request


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=14) as handle:
        yield handle


@pytest.fixture(params=["xml", "portal"])
def api(request, sb, monkeypatch) -> Iterator[str]:
    sb.clear_faults()
    CanadaPostHook._tokens.clear()
    conn = json.loads(sb.airflow_conn_uris()["canadapost_default"])
    conn["extra"].update(SENDER_EXTRAS, api=request.param)
    monkeypatch.setenv("AIRFLOW_CONN_CANADAPOST_DEFAULT", json.dumps(conn))
    yield request.param
    sb.clear_faults()


def hook() -> CanadaPostHook:
    policy = RetryPolicy(max_attempts=3, max_total_seconds=100, initial_wait=0.01, max_wait=0.02)
    return CanadaPostHook(retry_policy=policy, timeout=(2.0, 2.0), sleep=lambda s: None)


def today() -> dt.date:
    return dt.datetime.now(EASTERN).date()


def manifests_today(h: CanadaPostHook) -> list[str]:
    doc = h.read_manifest_document(None, "manifests", cpm.manifests_by_date_params(today(), today()))
    return cpm.parse_manifest_links(doc).manifest_links


def read_manifest(h: CanadaPostHook, link: str) -> tuple[Any, Any, list[str]]:
    info = cpm.parse_manifest(h.read_manifest_document(link, "manifest"))
    details = cpm.parse_manifest_details(h.read_manifest_document(info.links["details"], "manifest-details"))
    ids = cpm.parse_manifest_shipments(h.read_manifest_document(info.links["manifestShipments"], "shipments"))
    return info, details, ids


def test_transmit_then_read_the_manifest_back_and_validate_its_pdf(sb: SandboxHandle, api: str) -> None:
    h = hook()
    group = f"W{api[:1]}{dt.datetime.now().strftime('%H%M%S%f')}"[:12]
    made = [h.create_shipment(shipment_request(f"{group}-{i}", group_id=group), look_up_first=False) for i in range(3)]
    before = set(manifests_today(h))
    result = h.transmit([group], customer_reference=cpm.customer_reference_for([group]))
    assert len(result.manifest_links) == 1
    assert set(manifests_today(h)) - before == set(result.manifest_links)

    info, details, ids = read_manifest(h, result.manifest_links[0])
    assert details.customer_ref == group and details.po_number == info.po_number
    assert sorted(ids) == sorted(m.shipment_id for m in made)
    pdf, ctype = h.get_label(info.artifact_link, "application/pdf")
    assert ctype == "application/pdf"
    checked = validate_manifest_pdf(pdf, po_number=info.po_number, manifest_id=info.manifest_id,
                                    shipment_count=len(ids))
    assert checked.page_count >= 1 and len(checked.sha256) == 64
    with pytest.raises(ManifestValidationError) as wrong:
        validate_manifest_pdf(pdf, po_number=info.po_number, manifest_id=info.manifest_id, shipment_count=2)
    assert wrong.value.reason == "wrong_count"


def test_a_dropped_transmit_answer_is_settled_by_reading_the_manifests_back(sb: SandboxHandle, api: str) -> None:
    h = hook()
    group = f"D{api[:1]}{dt.datetime.now().strftime('%H%M%S%f')}"[:12]
    h.create_shipment(shipment_request(f"{group}-1", group_id=group), look_up_first=False)
    sb.set_faults("canadapost", "transmit_shipments", drop_rate=1, count=1)
    start = len(sb.calls("canadapost", "transmit_shipments"))
    with pytest.raises(CanadaPostRetryableError):
        h.transmit([group], customer_reference=group)
    assert len(sb.calls("canadapost", "transmit_shipments")) - start == 1  # never re-sent by the hook
    ours = [link for link in manifests_today(h) if read_manifest(h, link)[1].customer_ref == group]
    assert len(ours) == 1  # committed before the drop: found by date, exactly one
