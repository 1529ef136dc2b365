"""Where bought labels live: ``<label_dir>/<order_id>/<customer_request_id>.<pdf|zpl>``.

The label directory is a local path by default (``$AIRFLOW_HOME/labels``). A URL (``s3://...``,
``gs://...``, ``file://...``) goes through Airflow's ``ObjectStoragePath``, so a deployment with
several workers can keep labels in a bucket without code changes.

Local writes are atomic (temporary file, fsync, rename): a worker killed mid-write leaves no
half-written label for the packing station to print; a re-run simply writes it again. The sha256
returned is stored beside the shipment so a later reader (tracking, the packing page) can tell the
file is the one that was validated.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

_SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class StoredLabel:
    path: str
    sha256: str
    size_bytes: int


def _component(value: str, what: str) -> str:
    # Ids come from Best Buy; a path component must never climb out of the label directory.
    if not _SAFE_COMPONENT.match(value) or ".." in value:
        raise ValueError(f"{what} {value!r} is not usable as a file name")
    return value


def _is_url(label_dir: str) -> bool:
    return "://" in label_dir


def label_location(label_dir: str, order_id: str, customer_request_id: str, extension: str = "pdf") -> str:
    name = f"{_component(customer_request_id, 'customer_request_id')}.{_component(extension, 'extension')}"
    if _is_url(label_dir):
        return f"{label_dir.rstrip('/')}/{_component(order_id, 'order id')}/{name}"
    return str(Path(label_dir) / _component(order_id, "order id") / name)


def write_label(
    label_dir: str, order_id: str, customer_request_id: str, data: bytes, extension: str = "pdf"
) -> StoredLabel:
    """Store `data` and return where it went with its sha256."""
    location = label_location(label_dir, order_id, customer_request_id, extension)
    digest = hashlib.sha256(data).hexdigest()
    if _is_url(label_dir):
        from airflow.sdk import ObjectStoragePath

        target = ObjectStoragePath(location)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return StoredLabel(location, digest, len(data))
    target_path = Path(location)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".label-", dir=target_path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return StoredLabel(location, digest, len(data))


def read_label(location: str) -> bytes:
    if _is_url(location):
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(location).read_bytes()
    return Path(location).read_bytes()


def label_matches(location: str | None, sha256: str | None) -> tuple[bool, str]:
    """(ok, reason): the stored label exists and still has the checksum it was validated with."""
    if not location or not sha256:
        return False, "no stored label recorded"
    try:
        data = read_label(location)
    except FileNotFoundError:
        return False, f"label file {location} is missing"
    except OSError as exc:
        return False, f"label file {location} unreadable: {exc}"
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        return False, f"label file {location} changed since it was validated (sha256 {actual[:12]})"
    return True, "ok"
