"""``orderflow``: the set-up commands of an installed orderflow (a console entry point of the wheel).

    orderflow migrate [--url URL]          apply include/sql/migrations to the orderflow database
    orderflow roles                        create/converge the Packer, Agent and Pack Supervisor roles
    orderflow user --username U --role R --password P
    orderflow seed-catalog [--file catalog.json]
    orderflow install-dag DAGS_FOLDER      copy the orderflow_core DAG file into Airflow's dags folder
    orderflow dag-path                     print where the packaged DAG file is

In a checkout the same commands are ``python -m orderflow.db upgrade`` and ``python -m orderflow.setup ...``.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

DAG_FILE = "orderflow_core.py"


def packaged_dag() -> Path:
    """The DAG file: inside an installed wheel (orderflow/dags/), else the checkout's dags/ folder."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "dags" / DAG_FILE, here.parents[1] / "dags" / DAG_FILE):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"no {DAG_FILE} next to {here}: is orderflow installed from its wheel?")


def install_dag(dags_folder: str) -> Path:
    target_dir = Path(dags_folder).expanduser()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / DAG_FILE
    shutil.copyfile(packaged_dag(), target)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    from orderflow import setup

    parser, sub = setup.build_parser(prog="orderflow")
    parser.description = __doc__.split("\n")[0]
    migrate = sub.add_parser("migrate", help="apply pending migrations to the orderflow database")
    migrate.add_argument("--url", help="PostgreSQL URL (default ORDERFLOW_DATABASE_URL or AIRFLOW_CONN_ORDERFLOW_DB)")
    dag = sub.add_parser("install-dag", help="copy the orderflow_core DAG file into a dags folder")
    dag.add_argument("dags_folder", help="Airflow's [core] dags_folder")
    sub.add_parser("dag-path", help="print the path of the packaged DAG file")
    args = parser.parse_args(argv)

    if args.command == "migrate":
        from orderflow import db

        return db.main(["upgrade", *(["--url", args.url] if args.url else [])])
    if args.command == "install-dag":
        print(f"orderflow DAG copied to {install_dag(args.dags_folder)}")
        return 0
    if args.command == "dag-path":
        print(packaged_dag())
        return 0
    return setup.run(args)


if __name__ == "__main__":
    sys.exit(main())
