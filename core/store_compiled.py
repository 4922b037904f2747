"""The store's hot path: a SQLAlchemy Core statement compiled once per dialect and shape of
parameters, run on the thread's driver connection, and its rows taken as dicts. What this
path cannot run (Python-side defaults, type processors) SQLAlchemy's own execution does,
its result seen as a cursor (SAResult)."""
from __future__ import annotations

from operator import itemgetter


class Compiled:
    """A Core statement compiled for one dialect and one shape of parameters (their names,
    the lengths of the lists for IN): its SQL, and how the call's parameters become the
    driver's (positional or named, literal values included, lists expanded, the types' bind
    processors applied)."""
    __slots__ = ("sql", "names", "sources", "positional", "args", "columns", "writes")

    @classmethod
    def make(cls, stmt, params, dialect):
        """The compiled form, or False when it needs SQLAlchemy's execution (Python-side
        defaults, type processors)."""
        compiled = stmt.compile(dialect=dialect, column_keys=list(params))
        if compiled.insert_prefetch or compiled.update_prefetch:
            return False
        dummy = {}
        for k, v in params.items():
            if type(v) is list or type(v) is tuple:
                dummy[k] = [_Marker(k, i) for i in range(len(v))]
            else:
                dummy[k] = _Marker(k, None)
        state = compiled.construct_expanded_state(dummy)
        self = cls()
        self.sql = state.statement
        self.writes = bool(compiled.isinsert or compiled.isupdate or compiled.isdelete)
        self.positional = compiled.positional
        names = list(state.positiontup) if compiled.positional else list(state.parameters)
        sources = []
        for n in names:
            v = state.parameters[n]
            proc = state.processors.get(n)
            if not isinstance(v, _Marker):
                sources.append((None, proc(v) if proc and v is not None else v, None))
            else:
                sources.append((v.key, v.index, proc))
        self.names = tuple(names)
        self.sources = tuple(sources)
        self.columns = None  # the rows' column names, from the first cursor
        if self.positional and all(k is not None and i is None and p is None
                                   for k, i, p in sources):
            keys = [k for k, _, _ in sources]  # the call's values, as they are
            self.args = (itemgetter(*keys) if len(keys) > 1 else
                         (lambda params, k=keys[0]: (params[k],)) if keys else
                         (lambda params: ()))
        else:
            self.args = self._args
        return self

    def _args(self, params):
        out = []
        for key, index, proc in self.sources:
            if key is None:
                v = index  # a literal of the statement
            elif index is None:
                v = params[key]
            else:
                v = params[key][index]
            out.append(v if proc is None or v is None else proc(v))
        return out if self.positional else dict(zip(self.names, out))


class _Marker:
    __slots__ = ("key", "index")

    def __init__(self, key, index):
        self.key, self.index = key, index


def _names(cursor, compiled):
    if compiled is None:
        return [d[0] for d in cursor.description]
    names = compiled.columns
    if names is None:
        names = compiled.columns = tuple(d[0] for d in cursor.description)
    return names


def take_rows(cursor, compiled) -> list[dict]:
    rows = cursor.fetchall()
    if not rows:
        return []
    names = _names(cursor, compiled)
    return [dict(zip(names, r)) for r in rows]


def take_row(cursor, compiled) -> dict | None:
    rows = cursor.fetchall()  # to the end: SQLite ends the statement (and its write) there
    return dict(zip(_names(cursor, compiled), rows[0])) if rows else None


def take_scalar(cursor, compiled):
    rows = cursor.fetchall()
    return rows[0][0] if rows else None


def take_column(cursor, compiled) -> list:
    return [r[0] for r in cursor.fetchall()]


def take_count(cursor, compiled) -> int:
    if cursor.description is not None:
        cursor.fetchall()
    return cursor.rowcount


class SAResult:
    """A SQLAlchemy Result seen as a driver's cursor, for the take_* functions."""

    def __init__(self, result):
        self.result = result
        self.rowcount = result.rowcount
        self.description = [(k,) for k in result.keys()] if result.returns_rows else None

    def fetchall(self):
        return [tuple(r) for r in self.result]
