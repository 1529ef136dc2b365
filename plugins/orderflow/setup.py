"""Set-up commands: roles and permissions for the staff pages, the product catalog, users.

    python -m orderflow.setup roles                 (installed: orderflow roles)
    python -m orderflow.setup seed-catalog [--file catalog.json]
    python -m orderflow.setup user --username packer1 --role Packer --password ...

``seed-catalog`` loads the catalog file it is given. Production never imports the sandbox: the demo
catalog is loaded by the sandbox itself (``python -m sandbox seed-catalog`` writes it to a file and runs
this command with ``--file``; compose's sandbox service writes the file that airflow-init loads).

All are idempotent: the run command and compose's init call them on every start.

Roles (FAB auth manager; Admin is given every permission below too):
- Packer: the Packing Station (read, and edit = scan/pack/print), plus what Airflow's UI needs to
  show the plugin entry (Plugins read + menu) and its home page (Website read).
- Agent: the same for Customer Service, plus Seller Cancelation and Refunds (issue 13).
- Packer also holds Seller Cancelation (a unit missing or damaged at the table).
- Receiver: the Returns page and Refunds (mail-in returns are refunded there).
- Pack Supervisor: "Packing Override" (edit): packing an order with units not scanned; and the
  "End of Day" page (read, edit = close the day, print manifests). Given alongside Packer to the
  people allowed to make those calls.
Re-running ``roles`` converges each of these roles to exactly its list (extra permissions added by
hand are removed), so the list here is the truth.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from orderflow.views.resources import (
    CUSTOMER_SERVICE,
    END_OF_DAY,
    PACKING_OVERRIDE,
    PACKING_STATION,
    REFUNDS,
    RETURNS,
    SELLER_CANCELATION,
)

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from airflow.providers.fab.auth_manager.security_manager.override import FabAirflowSecurityManagerOverride
    from airflow.providers.fab.www.extensions.init_appbuilder import AirflowAppBuilder

    from orderflow.store import OrderStore

log = logging.getLogger(__name__)

CAN_READ = "can_read"
CAN_EDIT = "can_edit"
MENU_ACCESS = "menu_access"

# What Airflow's own UI needs for a staff member to reach the pages from its navigation.
_AIRFLOW_UI: tuple[tuple[str, str], ...] = (
    (CAN_READ, "Website"),       # the UI's home page (FAB also grants this to custom roles itself)
    (CAN_READ, "Plugins"),       # GET /api/v2/plugins: the UI lists external_views from it
    (MENU_ACCESS, "Plugins"),    # the Plugins entry in the navigation
)

_SELLER_CANCEL: tuple[tuple[str, str], ...] = ((CAN_READ, SELLER_CANCELATION), (CAN_EDIT, SELLER_CANCELATION))
_REFUNDS: tuple[tuple[str, str], ...] = ((CAN_READ, REFUNDS), (CAN_EDIT, REFUNDS))

ROLE_PERMISSIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "Packer": ((CAN_READ, PACKING_STATION), (CAN_EDIT, PACKING_STATION), *_SELLER_CANCEL, *_AIRFLOW_UI),
    "Agent": ((CAN_READ, CUSTOMER_SERVICE), (CAN_EDIT, CUSTOMER_SERVICE), *_SELLER_CANCEL, *_REFUNDS,
              *_AIRFLOW_UI),
    # Returns (issue 13): receives, judges and refunds mail-in returns; a Packer may also hold it.
    "Receiver": ((CAN_READ, RETURNS), (CAN_EDIT, RETURNS), *_REFUNDS, *_AIRFLOW_UI),
    "Pack Supervisor": ((CAN_EDIT, PACKING_OVERRIDE), (CAN_READ, END_OF_DAY), (CAN_EDIT, END_OF_DAY), *_AIRFLOW_UI),
}

# Admin keeps everything: these are added to it (never removed from it).
ADMIN_EXTRA: tuple[tuple[str, str], ...] = (
    (CAN_READ, PACKING_STATION),
    (CAN_EDIT, PACKING_STATION),
    (CAN_EDIT, PACKING_OVERRIDE),
    (CAN_READ, END_OF_DAY),
    (CAN_EDIT, END_OF_DAY),
    (CAN_READ, CUSTOMER_SERVICE),
    (CAN_EDIT, CUSTOMER_SERVICE),
    *_SELLER_CANCEL,
    *_REFUNDS,
    (CAN_READ, RETURNS),
    (CAN_EDIT, RETURNS),
)


def _application_builder() -> AbstractContextManager[AirflowAppBuilder]:
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    return get_application_builder()


def sync_roles(sm: FabAirflowSecurityManagerOverride) -> dict[str, list[tuple[str, str]]]:
    """Create/converge the staff roles on a FAB security manager; returns each role's permissions."""
    result: dict[str, list[tuple[str, str]]] = {}
    for role_name, wanted in ROLE_PERMISSIONS.items():
        role = sm.add_role(role_name)  # returns the existing role when there is one
        wanted_set = set(wanted)
        for action, resource in wanted:
            perm = sm.create_permission(action, resource)
            sm.add_permission_to_role(role, perm)
        for perm in list(role.permissions):
            if (perm.action.name, perm.resource.name) not in wanted_set:
                sm.remove_permission_from_role(role, perm)
        result[role_name] = sorted((p.action.name, p.resource.name) for p in role.permissions)
    admin = sm.add_role("Admin")
    for action, resource in ADMIN_EXTRA:
        sm.add_permission_to_role(admin, sm.create_permission(action, resource))
    return result


def create_roles() -> dict[str, list[tuple[str, str]]]:
    with _application_builder() as appbuilder:
        return sync_roles(appbuilder.sm)


def ensure_user(
    username: str,
    roles: Sequence[str],
    password: str,
    *,
    first_name: str | None = None,
    last_name: str = "",
    email: str | None = None,
    if_missing: bool = False,
) -> bool:
    """Create the user with these roles, or set the roles and password of an existing one.

    With ``if_missing`` an existing user is left exactly as it is (``make run`` must not reset a
    password someone changed). Returns True when the user was created.
    """
    with _application_builder() as appbuilder:
        if if_missing and appbuilder.sm.find_user(username=username) is not None:
            return False
        return ensure_user_on(
            appbuilder.sm, username, roles, password, first_name=first_name, last_name=last_name, email=email
        )


def ensure_user_on(
    sm: FabAirflowSecurityManagerOverride,
    username: str,
    roles: Sequence[str],
    password: str,
    *,
    first_name: str | None = None,
    last_name: str = "",
    email: str | None = None,
) -> bool:
    """``ensure_user`` on an open FAB security manager (several users in one set-up)."""
    role_objs = []
    for name in roles:
        role = sm.find_role(name)
        if role is None:
            raise SystemExit(f"unknown role {name!r}: run `python -m orderflow.setup roles` first")
        role_objs.append(role)
    user = sm.find_user(username=username)
    if user is None:
        created = sm.add_user(
            username=username,
            first_name=first_name or username,
            last_name=last_name or "",
            email=email or f"{username}@orderflow.invalid",
            role=role_objs,
            password=password,
        )
        if not created:
            raise SystemExit(f"could not create user {username!r}")
        return True
    user.roles = role_objs
    sm.update_user(user)
    sm.reset_password(user.id, password)
    return False


def catalog_rows(products: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A catalog file's products -> the shape OrderStore.upsert_products takes."""
    rows = []
    for p in products:
        rows.append(
            {
                "sku": p["sku"],
                "name": p["name"],
                "weight_kg": p["weight_kg"],
                "dimensions_cm": {
                    "length": p.get("length_cm"),
                    "width": p.get("width_cm"),
                    "height": p.get("height_cm"),
                },
                "components": [
                    {"barcode": c["barcode"], "name": c["name"], "quantity": int(c.get("quantity", 1))}
                    for c in p.get("components") or []
                ],
            }
        )
    return rows


class NoCatalog(SystemExit):
    """No catalog to load: ``--file`` is missing or does not hold a catalog."""


#: Said when ``seed-catalog`` has no ``--file``: the demo catalog lives with the sandbox, never here.
NO_FILE = (
    "seed-catalog: the demo catalog comes from the repository's sandbox/ package, which an installed "
    "orderflow does not include; pass --file with your catalog (a JSON list of products: sku, name, "
    "weight_kg, length_cm, width_cm, height_cm, components [{barcode, name, quantity}]); in a checkout, "
    "`python -m sandbox seed-catalog` loads the demo catalog"
)


def load_products(path: str) -> list[Mapping[str, Any]]:
    """A catalog file: a JSON list of products in the demo catalog's shape."""
    import json

    with open(path, encoding="utf-8") as f:
        products = json.load(f)
    if not isinstance(products, list) or not all(isinstance(p, dict) and "sku" in p for p in products):
        raise NoCatalog(f"seed-catalog: {path} must hold a JSON list of products, each with a sku")
    return products


def seed_catalog(products: Iterable[Mapping[str, Any]], store: OrderStore | None = None) -> int:
    if store is None:
        from orderflow.store import OrderStore

        store = OrderStore.from_conn_id("orderflow_db")
    return store.upsert_products(catalog_rows(products))


def build_parser(prog: str = "python -m orderflow.setup") -> tuple[argparse.ArgumentParser, Any]:
    """The parser and its subcommands (orderflow.cli adds its own to the same list)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("roles", help="create/converge the Packer, Agent and Pack Supervisor roles")
    catalog = sub.add_parser("seed-catalog", help="load products and their component barcodes from a file")
    catalog.add_argument("--file", help="a JSON list of products (sku, name, weight_kg, ..., components)")
    user = sub.add_parser("user", help="create or update a user")
    user.add_argument("--username", required=True)
    user.add_argument("--role", required=True, action="append", help="repeat for several roles")
    user.add_argument("--password", required=True)
    user.add_argument("--first-name")
    user.add_argument("--last-name", default="")
    user.add_argument("--email")
    user.add_argument("--if-missing", action="store_true", help="leave an existing user untouched")
    return parser, sub


def run(args: argparse.Namespace) -> int:
    if args.command == "roles":
        for role, perms in create_roles().items():
            print(f"{role}: " + ", ".join(f"{a} on {r}" for a, r in perms))
    elif args.command == "seed-catalog":
        if not args.file:
            raise NoCatalog(NO_FILE)
        print(f"catalog: {seed_catalog(load_products(args.file))} products loaded")
    elif args.command == "user":
        created = ensure_user(
            args.username, args.role, args.password,
            first_name=args.first_name, last_name=args.last_name, email=args.email, if_missing=args.if_missing,
        )
        if created:
            print(f"user {args.username}: created with roles {', '.join(args.role)}")
        elif args.if_missing:
            print(f"user {args.username}: exists, left unchanged")
        else:
            print(f"user {args.username}: updated with roles {', '.join(args.role)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser, _ = build_parser()
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
