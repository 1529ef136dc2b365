"""Refuse to start with example or placeholder secrets: ``python check_secrets.py``.

Run first by docker/airflow-init.sh (every other Airflow container and Grafana wait for it) and by
docker/airflow-start.sh before the api-server and the scheduler (the only two that hold the JWT
secret). Checks each secret of this container's environment that it knows; prints what is wrong
with each and how to make a good one, and exits 1. Standard library only (runs in the Airflow image).
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

HOW_URLSAFE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
HOW_HEX = "openssl rand -hex 24"
HOW_FERNET = 'python -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'

# Values published in earlier .env.example files: anyone can read them, so they never protect anything.
KNOWN_EXAMPLES = frozenset({
    "b3JkZXJmbG93LWV4YW1wbGUta2V5LWNoYW5nZS1tZSE=",
    "change-me-api-secret-key", "change-me-jwt-secret", "change-me-admin", "change-me-grafana",
    "change-me-postgres", "change-me-orderflow", "change-me-grafana-orderflow", "change-me-grafana-airflow",
    "airflow", "admin", "password", "secret", "orderflow",
})
PLACEHOLDER_MARKERS = ("change-me", "changeme", "change_me", "replace-me", "example", "placeholder", "xxxxxx")


def _url_password(url: str) -> str:
    try:
        return unquote(urlsplit(url).password or "")
    except ValueError:
        return ""


# container variable -> (name in .env, how to get the value out, minimum length, how to make one)
SECRETS: dict[str, tuple[str, Callable[[str], str], int, str]] = {
    "AIRFLOW__CORE__FERNET_KEY": ("AIRFLOW_FERNET_KEY", str, 44, HOW_FERNET),
    "AIRFLOW__API__SECRET_KEY": ("AIRFLOW_API_SECRET_KEY", str, 32, HOW_URLSAFE),
    "AIRFLOW__API_AUTH__JWT_SECRET": ("AIRFLOW_JWT_SECRET", str, 32, HOW_URLSAFE),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": ("POSTGRES_PASSWORD", _url_password, 16, HOW_HEX),
    "AIRFLOW_CONN_ORDERFLOW_DB": ("ORDERFLOW_DB_PASSWORD", _url_password, 16, HOW_HEX),
    "_AIRFLOW_WWW_USER_PASSWORD": ("AIRFLOW_ADMIN_PASSWORD", str, 12, HOW_HEX),
    "GRAFANA_ADMIN_PASSWORD": ("GRAFANA_ADMIN_PASSWORD", str, 12, HOW_HEX),
    "GRAFANA_ORDERFLOW_DB_PASSWORD": ("GRAFANA_ORDERFLOW_DB_PASSWORD", str, 16, HOW_HEX),
    "GRAFANA_AIRFLOW_DB_PASSWORD": ("GRAFANA_AIRFLOW_DB_PASSWORD", str, 16, HOW_HEX),
    "ORDERFLOW_CSRF_SECRET": ("ORDERFLOW_CSRF_SECRET", str, 32, HOW_URLSAFE),
}
OPTIONAL = frozenset({"ORDERFLOW_CSRF_SECRET"})  # empty: derived from [api] secret_key


def problem(variable: str, value: str) -> str | None:
    """What is wrong with this secret, or None."""
    _, extract, minimum, _ = SECRETS[variable]
    secret = extract(value).strip()
    if not secret:
        return "is empty"
    lowered = secret.lower()
    if secret in KNOWN_EXAMPLES or any(marker in lowered for marker in PLACEHOLDER_MARKERS):
        return "is an example or placeholder value"
    if len(secret) < minimum:
        return f"is too short ({len(secret)} characters, at least {minimum})"
    if len(set(secret)) < 8:
        return "repeats too few characters to be random"
    if variable == "AIRFLOW__CORE__FERNET_KEY":
        return _fernet_problem(secret)
    return None


def _fernet_problem(key: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(key.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return "is not a Fernet key (url-safe base64 of 32 bytes)"
    if len(raw) != 32:
        return f"is not a Fernet key (decodes to {len(raw)} bytes, not 32)"
    # 32 random bytes are printable text with a chance of about 1e-17: this one was typed, not generated.
    if all(32 <= b < 127 for b in raw) or any(m.encode() in raw.lower() for m in PLACEHOLDER_MARKERS):
        return "is base64 of a phrase, not of 32 random bytes"
    return None


def check(environ: dict[str, str]) -> list[str]:
    errors = []
    for variable, (env_name, _, _, how) in SECRETS.items():
        if variable not in environ or (variable in OPTIONAL and not environ[variable]):
            continue
        issue = problem(variable, environ[variable])
        if issue:
            errors.append(f"{env_name} {issue}. Set a new one in .env, e.g. from: {how}")
    return errors


def main() -> int:
    errors = check(dict(os.environ))
    for line in errors:
        print(f"orderflow: refusing to start: {line}", file=sys.stderr)
    if errors:
        print("orderflow: see docs/production-docker.md, section Secrets.", file=sys.stderr)
        return 1
    print("orderflow: secrets checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
