"""The CLI's output, formatted by cliff's formatters (the ones the `openstack` CLI uses):
`-f table|json|yaml|value|csv` for listings, `-f table|json|yaml|value|shell` for one
object, and `-c COLUMN` (repeatable) to pick columns or fields."""
from __future__ import annotations

import argparse
import sys

from cliff.columns import FormattableColumn
from cliff.formatters.commaseparated import CSVLister
from cliff.formatters.json_format import JSONFormatter
from cliff.formatters.shell import ShellFormatter
from cliff.formatters.table import TableFormatter
from cliff.formatters.value import ValueFormatter
from cliff.formatters.yaml_format import YAMLFormatter

LIST_FORMATTERS = {"table": TableFormatter, "json": JSONFormatter, "yaml": YAMLFormatter,
                   "value": ValueFormatter, "csv": CSVLister}
ONE_FORMATTERS = {"table": TableFormatter, "json": JSONFormatter, "yaml": YAMLFormatter,
                  "value": ValueFormatter, "shell": ShellFormatter}


class OutputError(Exception):
    """A -c that names no column: bad input (exit 2)."""


# -- values that read one way in a table and another in JSON ---------------------------
class AddressesColumn(FormattableColumn):
    """{"private": ["10.0.0.2"]}, shown as `private=10.0.0.2` (as the openstack CLI does)."""

    def human_readable(self) -> str:
        return "; ".join(f"{net}={', '.join(ips)}" for net, ips in sorted((self._value or {}).items()))


class FaultColumn(FormattableColumn):
    """A fault's message, code and time in a table; all of it (details: the traceback)
    only in machine-readable formats."""

    def human_readable(self) -> str:
        f = self._value
        if not f:
            return ""
        return f"{f['message']} (code {f['code']}, {f['created']}; -f json for details)"


class EventsColumn(FormattableColumn):
    def human_readable(self) -> str:
        return ", ".join(f"{e['event']}:{e['result']}" for e in self._value or [])


class ListColumn(FormattableColumn):
    def human_readable(self) -> str:
        return ", ".join(str(v) for v in self._value or [])


# -- options ---------------------------------------------------------------------------
def add_output_options(parser: argparse.ArgumentParser, one: bool = False) -> None:
    """-f/-c and each formatter's own options, as cliff's Lister and ShowOne add them."""
    formatters = ONE_FORMATTERS if one else LIST_FORMATTERS
    group = parser.add_argument_group("output formatters")
    group.add_argument("-f", "--format", dest="formatter", choices=list(formatters),
                       default="table", help="the output format (default: table)")
    group.add_argument("-c", "--column", dest="columns", action="append", default=[],
                       metavar="COLUMN", help="show only this column (repeatable)")
    for cls in dict.fromkeys([*formatters.values()]):
        cls().add_argument_group(parser)


def _normal(name: str) -> str:  # `-c task_state` finds `Task State`, as cliff does
    return name.lower().strip().replace(" ", "_").replace("-", "_")


def _select(names: list[str], wanted: list[str]) -> list[str]:
    if not wanted:
        return names
    by_normal = {_normal(n): n for n in names}
    unknown = [w for w in wanted if _normal(w) not in by_normal]
    if unknown:
        raise OutputError(f"no column named {unknown[0]!r}; the columns are: {', '.join(names)}")
    wanted = {_normal(w) for w in wanted}
    return [n for n in names if _normal(n) in wanted]  # in the columns' order, as cliff does


def emit_list(args, rows: list[dict], columns: list[str], all_columns: list[str] | None = None,
              out=None) -> None:
    """`columns` are shown by default; -c may pick any of `all_columns`."""
    names = _select(all_columns or columns, args.columns) if args.columns else columns
    formatter = LIST_FORMATTERS[args.formatter]()
    data = [[row.get(n) for n in names] for row in rows]
    if args.formatter == "table" and not data and not args.print_empty:
        return
    formatter.emit_list(names, data, out or sys.stdout, args)


def emit_one(args, view: dict, out=None) -> None:
    names = _select(list(view), args.columns)
    ONE_FORMATTERS[args.formatter]().emit_one(names, [view[n] for n in names], out or sys.stdout, args)
