"""The store's schema migrations (alembic), run from code when a Store opens for writing:
no alembic.ini is needed. `alembic -c core/migrations/alembic.ini revision -m "..."` makes
a new revision while developing (then set HEAD to it)."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

HEAD = "0001"  # the newest revision in versions/ (a unit test checks it)
BASELINE = "0001"  # the schema of the stores made before migrations existed
HERE = Path(__file__).resolve().parent


def config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return cfg


def upgrade(conn) -> None:
    """Upgrade the database of `conn` (in a transaction) to HEAD. A store made before
    migrations existed (its tables, no alembic_version) gets the columns it lacks and is
    stamped with the baseline first, never recreated."""
    from alembic import command

    cfg = config()
    cfg.attributes["connection"] = conn
    names = set(inspect(conn).get_table_names())
    if "instances" in names and "alembic_version" not in names:
        _add_missing_columns(conn)
        command.stamp(cfg, BASELINE)
    command.upgrade(cfg, "head")


def _add_missing_columns(conn) -> None:
    """Stores made by an earlier version lack the newer columns of the baseline."""
    have = {c["name"] for c in inspect(conn).get_columns("migrations")}
    for column, kind in (("disk_size", "INTEGER"), ("disk_sha256", "TEXT")):
        if column not in have:
            conn.execute(text(f"ALTER TABLE migrations ADD COLUMN {column} {kind}"))
