"""The store's database: one SQLAlchemy Engine per Store, one connection per thread, the
transactions, the schema's migrations at open, and one line for a database that cannot be
used. The back end is SQLite (a file in the state dir, the default) or PostgreSQL
(`[database] connection = "postgresql://…"`).

Transactions. Outside `tx()`, every statement is its own transaction. `tx()` is one write
transaction for the thread, and a `tx()` inside it joins it (one commit for a step's writes):
- SQLite: WAL (checkpointed by a thread of its own: store_checkpoint), synchronous=NORMAL,
  a 10 s busy timeout, and `BEGIN IMMEDIATE` (SQLAlchemy's pysqlite recipe: the driver's
  own transaction handling off, BEGIN emitted from the "begin" event), so writers are
  serialized and never deadlock. Within a process, writers first queue on a lock of the
  Database's own (see _writing): SQLite's busy handler waits by sleeping 1, 2, 5, 10 ms…
  and retrying, and in a burst the service's threads slept so 3 times a request. read_only
  opens the file with mode=ro: the process cannot write it whatever its code does.
- PostgreSQL: READ COMMITTED, and `tx()` first takes one transaction-scoped advisory lock, so
  that writers are serialized as by BEGIN IMMEDIATE (no deadlock between two steps' writes).
  The compare-and-swaps are single conditional UPDATEs checked by their rowcount, which
  PostgreSQL re-evaluates on the newest row version after a concurrent writer commits: of
  two racing, exactly one matches. read_only sets default_transaction_read_only.
"""
from __future__ import annotations

import sqlite3
import threading
import weakref
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import column, create_engine, event, func, inspect, select, table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import NullPool

from .errors import NovaError
from .store_checkpoint import WAL_SIZE_LIMIT, WalCheckpointer
from .store_compiled import (Compiled, SAResult, take_column, take_count, take_row, take_rows,
                             take_scalar)

# What a store that cannot be used raises (SQLAlchemy wraps the driver's errors).
DBError = (DBAPIError, sqlite3.Error)
try:  # the hot paths run on the driver's connection: its errors are not wrapped
    import psycopg
except ImportError:
    pass
else:
    DBError = (*DBError, psycopg.Error)
BUSY_TIMEOUT = 10  # seconds
# Each thread's connection keeps its own page cache, and any other connection's write
# empties it: 2 MiB each (SQLite's default) bought nothing but memory, 25 threads over.
PAGE_CACHE_KIB = 256
TX_LOCK = 0x6E6F7661  # "nova": PostgreSQL's advisory lock that serializes tx() like BEGIN IMMEDIATE
SCHEMES = ("sqlite", "postgresql")


class StoreError(NovaError):
    """The state store cannot be opened or used: the message says which file and what to do."""


def check_url(url: str) -> str | None:
    """Why `url` cannot be a [database] connection, or None when it can."""
    try:  # the URL itself is not repeated: it may hold a password
        u = make_url(url)
    except ArgumentError:
        return "is not a database URL (like postgresql://user:pass@host:5432/novatui)"
    if u.get_backend_name() not in SCHEMES:
        return (f"unknown database {u.get_backend_name()!r}: use postgresql://user:pass@host/db, "
                "or leave [database] out for SQLite in the state dir")
    if u.drivername not in ("postgresql", "postgresql+psycopg", "sqlite", "sqlite+pysqlite"):
        return f"unknown driver {u.drivername!r}: use postgresql:// (psycopg 3)"
    if u.get_backend_name() == "sqlite" and not u.database:
        return "a sqlite URL needs a file: sqlite:////path/to/novatui.db"
    if u.get_backend_name() == "postgresql" and not u.database:
        return "names no database: postgresql://user:pass@host:5432/DATABASE"
    return None


def _sqlite_engine(path: Path, read_only: bool):
    def connect():
        if read_only:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT,
                                   isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None,
                                   check_same_thread=False)
        if not read_only:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint=0")   # WalCheckpointer's thread does it
            conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT * 1000}")
        conn.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        return conn

    engine = create_engine("sqlite://", creator=connect, poolclass=NullPool)

    @event.listens_for(engine, "begin")
    def _begin(conn):  # the driver's implicit BEGIN is off: emit ours, for tx() only
        if conn.info.get("immediate"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    return engine


def _url_engine(url: str, read_only: bool):
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return _sqlite_engine(Path(u.database), read_only)
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    args = {}
    if read_only:  # beside any options the URL gives (?options=-csearch_path%3D…)
        args["options"] = " ".join(filter(None, (u.query.get("options"),
                                                 "-c default_transaction_read_only=on")))
    return create_engine(u, poolclass=NullPool, isolation_level="READ COMMITTED",
                         connect_args=args)


class Database:
    """The engine and the per-thread connections; mixed into Store."""

    def _open_engine(self, target, read_only: bool) -> None:
        self.url = str(target) if "://" in str(target) else None
        self.path = Path(target) if self.url is None else None
        if self.url and make_url(self.url).get_backend_name() == "sqlite":
            self.path = Path(make_url(self.url).database)
        self.read_only = read_only
        self._local = threading.local()
        self._conns: list = []  # every thread's, closed together by close()
        self._conns_lock = threading.Lock()
        self.engine = (_url_engine(self.url, read_only) if self.url else
                       _sqlite_engine(self.path, read_only))
        self.dialect = self.engine.dialect.name
        self._autocommit = self.dialect == "sqlite"  # the driver's: see _run
        self._checkpointer = (WalCheckpointer(self.path) if self._autocommit and not read_only
                              else None)
        self._compiled: dict = {}  # (statement, parameter names, list lengths): Compiled
        # SQLite's writers of this process queue here (other processes' on the busy handler)
        self._write_lock = (threading.Lock() if self._autocommit and not read_only
                            else None)

    @property
    def where(self) -> str:
        """The store, as error lines name it (a URL without its password)."""
        if self.url and self.dialect != "sqlite":
            return make_url(self.url).render_as_string(hide_password=True)
        return str(self.path)

    @property
    def db(self):
        """This thread's SQLAlchemy connection."""
        c = getattr(self._local, "db", None)
        if c is None:
            c = self.engine.connect()
            self._local.db = c
            self._local.raw = c.connection.dbapi_connection
            self._local.depth = 0
            # Closed when the thread ends (its locals go), or by close(): a server's
            # connections do not pile up with the threads that came and went.
            self._local.holder = holder = _Holder()
            weakref.finalize(holder, self._forget, c)
            with self._conns_lock:
                self._conns.append(c)
        return c

    @contextmanager
    def _writing(self):
        """Hold this process's writers' lock (SQLite), as long as SQLite's own busy timeout
        at most: past it, the same error as a busy store."""
        lock = self._write_lock
        if lock is None:
            yield
            return
        if not lock.acquire(timeout=BUSY_TIMEOUT):
            raise sqlite3.OperationalError("database is locked")
        try:
            yield
        finally:
            lock.release()

    def _wrote(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.wrote()

    def _forget(self, c) -> None:
        with self._conns_lock:
            if c not in self._conns:
                return  # close() has it
            self._conns.remove(c)
        try:
            c.close()
        except DBError:
            pass

    @property
    def conn(self):
        """This thread's DB-API connection (sqlite3's on SQLite): for tests and diagnostics
        that run their own SQL; the Store's methods do not use it."""
        return self.db.connection.dbapi_connection

    def close(self) -> None:
        """Close every thread's connection (the threads that used them have ended)."""
        if self._checkpointer is not None:   # first: the last connection checkpoints
            self._checkpointer.close()
            self._checkpointer = WalCheckpointer(self.path)
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.close()
            except DBError:
                pass
        self._local = threading.local()
        self.engine.dispose()

    @contextmanager
    def tx(self):
        """One write transaction (BEGIN IMMEDIATE on SQLite, the writers' advisory lock on
        PostgreSQL). Inside another one, it is part of that one (one commit for a step's
        writes). Yields the thread's connection.

        The transaction is begun and ended on the driver's connection, as the statements
        of the hot paths run there (see _run); a body that uses the SQLAlchemy connection
        yielded has its work committed (or rolled back) with the rest."""
        with self._transaction(self._begin_on_driver) as c:
            yield c

    @contextmanager
    def _sa_tx(self):
        """tx() begun through SQLAlchemy's connection (the "begin" event emits BEGIN
        IMMEDIATE on SQLite): for the migrations, whose alembic work runs on it."""
        with self._transaction(self._begin_on_sqlalchemy) as c:
            yield c

    def _begin_on_driver(self, c) -> None:
        if self.dialect == "sqlite":
            self._local.raw.execute("BEGIN IMMEDIATE")
        else:  # psycopg begins the transaction with the lock's statement
            self._local.raw.execute(_PG_TX_LOCK_SQL)

    def _begin_on_sqlalchemy(self, c) -> None:
        c.info["immediate"] = True
        try:
            c.begin()
        finally:
            c.info["immediate"] = False
        if self.dialect == "postgresql":
            c.execute(_PG_TX_LOCK)

    @contextmanager
    def _transaction(self, begin):
        c = self.db
        local = self._local
        if local.depth:   # inside the thread's transaction: part of it
            local.depth += 1
            try:
                yield c
            finally:
                local.depth -= 1
            return
        raw = local.raw
        local.depth = 1
        local.after = []
        try:
            with self._writing():
                try:
                    if c.in_transaction():  # left open by an inspection outside tx(): end it
                        c.commit()
                    begin(c)
                    yield c
                    _commit(c, raw)
                except BaseException:
                    try:
                        _rollback(c, raw)
                    except DBError:
                        pass
                    raise
        finally:
            local.depth = 0
        self._wrote()
        after, local.after = local.after, []
        for fn in after:
            fn()

    def after_commit(self, fn) -> None:
        """Run fn once this thread's transaction has committed (at once outside one); it is
        dropped if the transaction rolls back. A cast's publication to a broker waits so: a
        consumer must never be told of a row it cannot see yet."""
        if self._local.__dict__.get("depth"):
            self._local.after.append(fn)
        else:
            fn()

    # -- statements, in the thread's transaction or each on its own ---------------------
    # The hot paths: a Core statement is compiled once per dialect and parameter shape (see
    # Compiled) and run on the thread's driver connection, its rows read as dicts. On
    # SQLite the driver is in autocommit mode: outside tx() each statement is its own
    # transaction with no COMMIT to send; on PostgreSQL it is committed after.
    def _run(self, stmt, params, take):
        params = params or {}
        key = (stmt, tuple(params))
        compiled = self._compiled.get(key)
        if compiled is None or compiled.__class__ is dict:  # IN lists: by their lengths
            by_len = compiled
            lens = tuple(len(v) for v in params.values() if type(v) is list or type(v) is tuple)
            compiled = by_len.get(lens) if by_len else None
            if compiled is None:
                compiled = Compiled.make(stmt, params, self.engine.dialect)
                if lens:
                    self._compiled.setdefault(key, {})[lens] = compiled
                else:
                    self._compiled[key] = compiled
        if compiled is False:  # a statement this path does not run: SQLAlchemy does
            return self._do(stmt, params, lambda r: take(SAResult(r), None))
        local = self._local
        raw = getattr(local, "raw", None)
        if raw is None:
            self.db
            raw = local.raw
        if local.depth:
            return take(raw.execute(compiled.sql, compiled.args(params)), compiled)
        if self._autocommit:
            if not compiled.writes:
                return take(raw.execute(compiled.sql, compiled.args(params)), compiled)
            with self._writing():
                out = take(raw.execute(compiled.sql, compiled.args(params)), compiled)
            self._wrote()
            return out
        c = local.db
        try:
            out = take(raw.execute(compiled.sql, compiled.args(params)), compiled)
            _commit(c, raw)
        except BaseException:
            _rollback(c, raw)
            raise
        return out

    def _rows(self, stmt, params=None) -> list[dict]:
        return self._run(stmt, params, take_rows)

    def _row(self, stmt, params=None) -> dict | None:
        return self._run(stmt, params, take_row)

    def _count(self, stmt, params=None) -> int:
        """Rows written (a conditional UPDATE's compare-and-swap outcome)."""
        return self._run(stmt, params, take_count)

    def _scalar(self, stmt, params=None):
        return self._run(stmt, params, take_scalar)

    def _column(self, stmt, params=None) -> list:
        """The first column of every row."""
        return self._run(stmt, params, take_column)

    # SQLAlchemy's own execution, for what the hot path does not run, and the inspections.
    def _do(self, stmt, params, take):
        c = self.db
        if self._local.depth:
            return take(c.execute(stmt, params) if stmt is not None else None)
        writes = stmt is not None and stmt.is_dml
        try:
            with self._writing() if writes else nullcontext():
                out = take(c.execute(stmt, params) if stmt is not None else None)
                c.commit()
        except BaseException:
            if c.in_transaction():
                c.rollback()
            raise
        if writes:
            self._wrote()
        return out

    # -- opening: schema and migrations ------------------------------------------------
    def _table_names(self) -> list[str]:
        return self._do(None, None, lambda _: inspect(self.db).get_table_names())

    def _has_schema(self) -> bool:
        return "instances" in self._table_names()

    def _migrate(self) -> None:
        """Bring the schema to the newest revision, in one write transaction (of two
        processes opening one new store, the second finds it done)."""
        from .migrations import upgrade  # alembic is loaded only when there is work

        with self._sa_tx() as c:
            upgrade(c)

    def _needs_migration(self) -> bool:
        from .migrations import HEAD

        if "alembic_version" not in self._table_names():
            return True
        return self._scalar(_VERSION) != HEAD


class _Holder:
    """Lives as long as its thread's locals."""


def _commit(c, raw) -> None:
    """A transaction begun or used through SQLAlchemy ends there (its commit is the
    driver's); one on the driver's connection alone ends on it."""
    if c.in_transaction():
        c.commit()
    else:
        raw.commit()


def _rollback(c, raw) -> None:
    if c.in_transaction():
        c.rollback()
    else:
        raw.rollback()


_PG_TX_LOCK = select(func.pg_advisory_xact_lock(TX_LOCK))
_PG_TX_LOCK_SQL = f"SELECT pg_advisory_xact_lock({TX_LOCK})"


_VERSION = select(column("version_num")).select_from(table("alembic_version"))
