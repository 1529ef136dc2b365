"""``orderflow``: the set-up commands of an installed orderflow (a console entry point of the wheel).

    orderflow migrate [--url URL]          apply include/sql/migrations to the orderflow database
    orderflow roles                        create/converge the Packer, Agent and Pack Supervisor roles
    orderflow user --username U --role R --password P
    orderflow seed-catalog [--file catalog.json]
    orderflow install-dag DAGS_FOLDER      copy the DAG files (orderflow_core, orderflow_end_of_day) into
                                           Airflow's dags folder
    orderflow dag-path                     print where the packaged DAG files are

In a checkout the same commands are ``python -m orderflow.db upgrade`` and ``python -m orderflow.setup ...``.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

#: Every DAG file the wheel carries (pyproject.toml force-includes the same list).
DAG_FILES = ("orderflow_core.py", "orderflow_end_of_day.py")
DAG_FILE = DAG_FILES[0]


def packaged_dag(name: str = DAG_FILE) -> Path:
    """A DAG file: inside an installed wheel (orderflow/dags/), else the checkout's dags/ folder."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "dags" / name, here.parents[1] / "dags" / name):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"no {name} next to {here}: is orderflow installed from its wheel?")


def install_dags(dags_folder: str) -> list[Path]:
    target_dir = Path(dags_folder).expanduser()
    target_dir.mkdir(parents=True, exist_ok=True)
    targets = []
    for name in DAG_FILES:
        source = packaged_dag(name)  # every file first: a missing one copies nothing
        targets.append((source, target_dir / name))
    for source, target in targets:
        shutil.copyfile(source, target)
    return [target for _, target in targets]


def main(argv: Sequence[str] | None = None) -> int:
    from orderflow import setup

    parser, sub = setup.build_parser(prog="orderflow")
    parser.description = __doc__.split("\n")[0]
    migrate = sub.add_parser("migrate", help="apply pending migrations to the orderflow database")
    migrate.add_argument("--url", help="PostgreSQL URL (default ORDERFLOW_DATABASE_URL or AIRFLOW_CONN_ORDERFLOW_DB)")
    dag = sub.add_parser("install-dag", help="copy the orderflow DAG files into a dags folder")
    dag.add_argument("dags_folder", help="Airflow's [core] dags_folder")
    sub.add_parser("dag-path", help="print the paths of the packaged DAG files")
    args = parser.parse_args(argv)

    if args.command == "migrate":
        from orderflow import db

        return db.main(["upgrade", *(["--url", args.url] if args.url else [])])
    if args.command == "install-dag":
        for target in install_dags(args.dags_folder):
            print(f"orderflow DAG copied to {target}")
        return 0
    if args.command == "dag-path":
        for name in DAG_FILES:
            print(packaged_dag(name))
        return 0
    return setup.run(args)


if __name__ == "__main__":
    sys.exit(main())
