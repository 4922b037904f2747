"""The console's first picture (core/store_peek.py) reads the store with sqlite3 alone: its
queries are the store's own statements compiled for SQLite, and it reads what the store
reads, a migration's claims included; and reading it imports no SQLAlchemy."""
from __future__ import annotations

import subprocess
import sys

from sqlalchemy.dialects import sqlite

from core import store_peek
from core.hosts import host_views
from core.starting import read_snapshot
from core.store import HOST_USAGE, LIST_INSTANCES, LIST_SERVICES, Store
from core.store_peek import StorePeek
from tests.conftest import act, launch
from tests.invariants import ROOT, cli_env


def test_the_peek_s_queries_are_the_store_s_statements():
    for name, stmt in (("LIST_INSTANCES_SQL", LIST_INSTANCES), ("HOST_USAGE_SQL", HOST_USAGE),
                       ("LIST_SERVICES_SQL", LIST_SERVICES)):
        compiled = str(stmt.compile(dialect=sqlite.dialect(),
                                    compile_kwargs={"literal_binds": True}))
        assert getattr(store_peek, name) == compiled, (
            f"core/store_peek.py {name} is not the store's statement any more; it is now:\n"
            f"{compiled!r}")


def test_the_peek_reads_what_the_store_reads(engine, state_dir):
    launch(engine, "kept")
    moved = act(engine, "migrate", launch(engine, "moved")["uuid"])   # holds its source
    assert moved["task_state"] is None and moved["vm_state"] == "resized"
    engine.wait(engine.request("pause", "kept"))   # at rest: the two reads see one state
    store, peek = Store(state_dir / "novatui.db", read_only=True), StorePeek(state_dir / "novatui.db")
    try:
        assert peek.list_instances() == store.list_instances()
        assert peek.services() == store.services()
        assert peek.host_usage() == store.host_usage()
        assert sum(u["instances"] for u in peek.host_usage().values()) == 2
        assert sum(u["vcpus"] for u in peek.host_usage().values()) == 3   # 2 + the claim
        assert host_views(engine.config, peek) == host_views(engine.config, store)
    finally:
        store.close()
        peek.close()


def test_the_first_picture_imports_no_sqlalchemy(engine, config, state_dir, tmp_path):
    launch(engine, "web")
    script = ("import sys\n"
              "from core.config import load_config\n"
              "from core.starting import read_snapshot\n"
              "first = read_snapshot(load_config(sys.argv[1]), sys.argv[2], True)\n"
              "print(len(first.instances), len(first.hosts), 'sqlalchemy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "hosts.toml"),
                           str(state_dir)], cwd=ROOT, env=cli_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", str(len(config.hosts)), "False"]
    assert read_snapshot(config, state_dir, True).instances == engine.store.list_instances()


def test_rows_sharing_a_sys_meta_text_each_get_their_own_dict():
    from core.store_peek import instance_records
    text = '{"requested_az": null}'
    rows = instance_records([{"sys_meta": text, "locked": 0}, {"sys_meta": text, "locked": 1},
                             {"sys_meta": None, "locked": 0}])
    assert [r["sys_meta"] for r in rows] == [{"requested_az": None}, {"requested_az": None}, {}]
    assert [r["locked"] for r in rows] == [False, True, False]
    rows[0]["sys_meta"]["old_vm_state"] = "active"
    assert rows[1]["sys_meta"] == {"requested_az": None}
