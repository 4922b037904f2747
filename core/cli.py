"""The headless CLI, shaped like `openstack server ...`. Without arguments it starts the
console. Errors are one line on stderr and a non-zero exit; nothing here imports Textual."""
from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import sys
from pathlib import Path

from .actions import ACTIONS
from .config import default_state_dir, load_config
from .errors import NovaError
from .statedir import STORE_FILE, prepare_state_dir
from .store import describe_db_error
from .views import server_detail, server_summary, timestamp as _ts

EXIT_FAILED = 1   # the operation ran and failed (see the fault)
EXIT_REFUSED = 2  # bad input, or the request was refused; nothing changed


class CLIError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise CLIError(f"{self.prog}: {message}")


# -- output ---------------------------------------------------------------------------
def render_table(rows: list[dict], columns: list[str] | None = None) -> str:
    if not rows:
        return ""
    columns = columns or list(rows[0])
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"  # noqa: E731
    return "\n".join([rule, line(columns), rule, *(line(r) for r in cells), rule])


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def emit(data, fmt: str, columns: list[str] | None = None) -> None:
    if fmt == "json":
        print(json.dumps(data, indent=2, default=str))
    elif isinstance(data, dict):
        print(render_table([{"Field": k, "Value": v} for k, v in data.items()]))
    else:
        out = render_table(data, columns)
        if out:
            print(out)


# -- arguments ------------------------------------------------------------------------
def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


COMPUTE_VERBS = ("start", "stop", "pause", "unpause", "suspend", "resume", "lock", "unlock",
                 "unrescue", "unshelve")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="novatui", description="Run virtual machines on libvirt hosts, the way "
                "OpenStack Nova does. Without a command, starts the console.")
    p.add_argument("--config", help="inventory file (default: $NOVATUI_CONFIG, ./hosts.toml, "
                   "~/.config/novatui/hosts.toml)")
    p.add_argument("--state-dir", help="state directory (default: $NOVATUI_STATE_DIR or "
                   "$XDG_STATE_HOME/novatui)")
    p.add_argument("--read-only", action="store_true", help="watch, but refuse every change")
    sub = p.add_subparsers(dest="noun", parser_class=_Parser)

    def fmt(sp):
        sp.add_argument("-f", "--format", choices=("table", "json"), default="table")

    def waiting(sp):
        sp.add_argument("--no-wait", action="store_true", help="return once the request is accepted")
        sp.add_argument("--wait-timeout", type=positive_seconds, default=600.0,
                        metavar="SECONDS")

    server = sub.add_parser("server", help="instances").add_subparsers(dest="verb", parser_class=_Parser)
    sp = server.add_parser("list", help="list instances")
    fmt(sp)
    sp.add_argument("--host")
    sp = server.add_parser("show", help="show one instance")
    fmt(sp)
    sp.add_argument("server")
    sp = server.add_parser("create", help="launch an instance")
    fmt(sp)
    waiting(sp)
    sp.add_argument("--flavor", required=True)
    sp.add_argument("--image", required=True)
    sp.add_argument("--availability-zone")
    sp.add_argument("name")
    for verb in COMPUTE_VERBS:
        sp = server.add_parser(verb, help=ACTIONS[verb].description)
        waiting(sp)
        sp.add_argument("servers", nargs="+", metavar="server")
    sp = server.add_parser("reboot", help="reboot (soft unless --hard)")
    waiting(sp)
    sp.add_argument("--hard", action="store_true")
    sp.add_argument("servers", nargs="+", metavar="server")
    sp = server.add_parser("delete", help="terminate")
    waiting(sp)
    sp.add_argument("--force", action="store_true")
    sp.add_argument("servers", nargs="+", metavar="server")
    for verb, option, helptext in (("rebuild", "--image", ACTIONS["rebuild"].description),
                                   ("rescue", "--image", ACTIONS["rescue"].description)):
        sp = server.add_parser(verb, help=helptext)
        waiting(sp)
        sp.add_argument(option)
        sp.add_argument("servers", nargs="+", metavar="server")
    sp = server.add_parser("shelve", help="shelve (`server shelve offload SERVER` offloads now)")
    waiting(sp)
    sp.add_argument("servers", nargs="+", metavar="server")
    sp = server.add_parser("migrate", help="cold migrate (or live, with --live)")
    waiting(sp)
    sp.add_argument("--live", action="store_true")
    sp.add_argument("--host")
    sp.add_argument("servers", nargs="+", metavar="server")
    sp = server.add_parser("resize", help="resize --flavor F SERVER | resize confirm|revert SERVER")
    waiting(sp)
    sp.add_argument("--flavor")
    sp.add_argument("servers", nargs="+", metavar="server")
    sp = server.add_parser("evacuate", help=ACTIONS["evacuate"].description)
    waiting(sp)
    sp.add_argument("--host")
    sp.add_argument("servers", nargs="+", metavar="server")
    image_of = server.add_parser("image", help="server images").add_subparsers(
        dest="image_verb", parser_class=_Parser)
    sp = image_of.add_parser("create", help=ACTIONS["snapshot"].description)
    fmt(sp)
    waiting(sp)
    sp.add_argument("--name", required=True)
    sp.add_argument("servers", nargs=1, metavar="server")
    event = server.add_parser("event", help="instance action history").add_subparsers(
        dest="event_verb", parser_class=_Parser)
    sp = event.add_parser("list", help="the actions taken on an instance")
    fmt(sp)
    sp.add_argument("server")

    host = sub.add_parser("host", help="compute hosts").add_subparsers(dest="verb", parser_class=_Parser)
    fmt(host.add_parser("list", help="list compute hosts"))
    sp = host.add_parser("show", help="a host's resources, used and free")
    fmt(sp)
    sp.add_argument("host")
    sp = host.add_parser("disable", help="the scheduler skips a disabled host")
    sp.add_argument("--reason")
    sp.add_argument("--down", action="store_true", help="also mark it down (allows evacuate)")
    sp.add_argument("host")
    sp = host.add_parser("enable", help="enable a host (and clear --down)")
    sp.add_argument("host")

    image = sub.add_parser("image", help="images").add_subparsers(dest="verb", parser_class=_Parser)
    fmt(image.add_parser("list", help="list images"))
    sp = image.add_parser("show", help="show one image")
    fmt(sp)
    sp.add_argument("image")
    sp = image.add_parser("create", help="register an image file (raw or qcow2)")
    fmt(sp)
    sp.add_argument("--file", required=True)
    sp.add_argument("name")
    sp = image.add_parser("delete", help="delete an image (refused while a shelved instance needs it)")
    sp.add_argument("images", nargs="+", metavar="image")

    flavor = sub.add_parser("flavor", help="flavors").add_subparsers(dest="verb", parser_class=_Parser)
    fmt(flavor.add_parser("list", help="list flavors"))
    return p


def resolve_config(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    if os.environ.get("NOVATUI_CONFIG"):
        return Path(os.environ["NOVATUI_CONFIG"])
    for candidate in (Path("hosts.toml"), Path("~/.config/novatui/hosts.toml").expanduser()):
        if candidate.exists():
            return candidate
    raise CLIError("novatui: no inventory: pass --config FILE or create ./hosts.toml")


# -- commands -------------------------------------------------------------------------
def _wait_and_report(engine, req, args, verb: str) -> int:
    if args.no_wait or req.done:
        return 0
    action = engine.wait(req, args.wait_timeout)
    if action["message"] == "Error":
        fault = engine.fault(req.instance_uuid)
        reason = fault["message"] if fault else "see `server event list`"
        print(f"novatui: {verb} of {req.instance_uuid} failed: {reason}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def image_view(i: dict) -> dict:
    return {"id": i["id"], "name": i["name"], "disk_format": i["disk_format"], "size": i["size"],
            "checksum": i["checksum"], "type": i["type"], "instance_uuid": i["instance_uuid"],
            "status": i["status"], "created": _ts(i["created_at"])}


def server_action(args) -> tuple[str, list[str], dict]:
    """The action of the table a `server VERB` means, the servers it names, its arguments."""
    verb, refs = args.verb, list(args.servers)
    sub = refs[0] if len(refs) > 1 else None
    if verb == "reboot":
        return ("reboot_hard" if args.hard else "reboot"), refs, {}
    if verb == "delete":
        return ("force_delete" if args.force else "delete"), refs, {}
    if verb == "shelve" and sub == "offload":
        return "shelve_offload", refs[1:], {}
    if verb == "resize" and sub in ("confirm", "revert"):
        return f"{sub}_resize", refs[1:], {}
    if verb == "resize":
        if not args.flavor:
            raise CLIError("novatui server resize: --flavor is required (or: resize confirm|revert SERVER)")
        return "resize", refs, {"flavor": args.flavor}
    if verb == "migrate":
        return ("live_migrate" if args.live else "migrate"), refs, {"host": args.host}
    if verb == "evacuate":
        return "evacuate", refs, {"host": args.host}
    if verb in ("rebuild", "rescue"):
        return verb, refs, {"image": args.image}
    return verb, refs, {}


def run_command(args, engine) -> int:
    noun, verb = args.noun, args.verb
    if noun == "server":
        if verb == "list":
            rows = [server_summary(i) for i in engine.instances(args.host)]
            emit(rows, args.format, ["id", "name", "status", "task_state", "power_state",
                                     "networks", "image", "flavor", "host"])
            return 0
        if verb == "show":
            inst = engine.instance(args.server)
            emit(server_detail(inst, engine.fault(inst["uuid"])), args.format)
            return 0
        if verb == "create":
            req = engine.create(args.name, args.flavor, args.image, args.availability_zone)
            rc = _wait_and_report(engine, req, args, "create")
            inst = engine.store.get_instance(req.instance_uuid)
            emit(server_detail(inst, engine.fault(inst["uuid"])), args.format)
            return rc
        if verb == "event":
            rows = [{"request_id": a["request_id"], "action": a["action"],
                     "start_time": _ts(a["start_time"]), "finish_time": _ts(a["finish_time"]),
                     "message": a["message"],
                     "events": [{**e, "start_time": _ts(e["start_time"]),
                                 "finish_time": _ts(e["finish_time"])} for e in a["events"]]}
                    for a in engine.actions(args.server)]
            if args.format == "table":
                for r in rows:
                    r["events"] = ", ".join(f"{e['event']}:{e['result']}" for e in r.pop("events"))
            emit(rows, args.format)
            return 0
        if verb == "image":
            if args.image_verb is None:
                raise CLIError("novatui server image: a command is needed (create)")
            req = engine.request("snapshot", args.servers[0], name=args.name)
            rc = _wait_and_report(engine, req, args, "snapshot")
            images = [i for i in engine.images.list() if i["name"] == args.name]
            if images:
                emit(image_view(images[-1]), args.format)
            return rc
        action, refs, params = server_action(args)
        rc = 0
        # Every name is resolved before anything is asked, and an instance the state table
        # refuses goes first: a bad reference or state leaves every instance as it was.
        targets = list({i["uuid"]: i for i in map(engine.instance, refs)}.values())
        targets.sort(key=lambda i: ACTIONS[action].refusal(i) is None)
        requests = [engine.request(action, i["uuid"], **params) for i in targets]
        for req in requests:
            rc = max(rc, _wait_and_report(engine, req, args, verb))
        return rc
    if noun == "host":
        if verb == "list":
            rows = [{k: v for k, v in h.items() if k != "heartbeat"} for h in engine.hosts()]
            emit(rows, args.format, ["name", "state", "enabled", "availability_zone", "vcpus_used",
                                     "vcpus", "memory_mb_used", "memory_mb", "disk_gb_used",
                                     "disk_gb", "instances"])
            return 0
        if verb == "show":
            engine.config.host(args.host)
            view = next(h for h in engine.hosts() if h["name"] == args.host)
            view = {**{k: v for k, v in view.items() if k != "heartbeat"},
                    "vcpus_free": view["vcpus"] - view["vcpus_used"],
                    "memory_mb_free": view["memory_mb"] - view["memory_mb_used"],
                    "disk_gb_free": view["disk_gb"] - view["disk_gb_used"],
                    "servers": [i["name"] for i in engine.instances(args.host)]}
            emit(view, args.format)
            return 0
        engine.submit(engine.api.set_host, args.host, verb == "enable",
                      getattr(args, "reason", None), getattr(args, "down", False)).result()
        return 0
    if noun == "flavor":
        emit([{"name": f.name, "vcpus": f.vcpus, "ram_mb": f.ram_mb, "disk_gb": f.disk_gb}
              for f in engine.config.flavors.values()], args.format)
        return 0
    if noun == "image":
        if verb == "list":
            emit([image_view(i) for i in engine.images.list()], args.format,
                 ["id", "name", "disk_format", "size", "type", "status"])
        elif verb == "show":
            emit(image_view(engine.images.get(args.image)), args.format)
        elif verb == "create":
            emit(image_view(engine.submit(engine.api.create_image, args.name, args.file).result()),
                 args.format)
        elif verb == "delete":
            images = list({i["id"]: i for i in map(engine.images.get, args.images)}.values())
            images.sort(key=lambda i: not engine.images.users(i["id"]))  # refused ones first
            for image in images:
                engine.submit(engine.api.delete_image, image["id"]).result()
        return 0
    raise CLIError(f"novatui {noun}: a command is needed (see novatui {noun} --help)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    state_dir = None
    try:
        args = build_parser().parse_args(argv)
        if args.noun is not None and (getattr(args, "verb", None) is None
                                      or (args.verb == "event" and args.event_verb is None)):
            raise CLIError(f"novatui {args.noun}: a command is needed (see novatui {args.noun} --help)")
        config = load_config(resolve_config(args.config))
        state_dir = prepare_state_dir(args.state_dir or default_state_dir(), args.read_only)
        if args.noun is None:
            from tui.app import run_console  # the console alone pulls in Textual
            return run_console(config, state_dir, read_only=args.read_only)
        from .engine import Engine, waiting_line
        engine = Engine(config, state_dir, read_only=args.read_only, own="free")
        engine.start()
        try:
            return run_command(args, engine)
        finally:  # the steps this process carries reach a resting state first
            engine.stop(on_wait=lambda rows: print(waiting_line(rows), file=sys.stderr))
    except CLIError as e:
        print(str(e), file=sys.stderr)
        return EXIT_REFUSED
    except NovaError as e:
        print(f"novatui: {e.message}", file=sys.stderr)
        return EXIT_REFUSED
    except TimeoutError as e:
        print(f"novatui: {e}", file=sys.stderr)
        return EXIT_FAILED
    except sqlite3.DatabaseError as e:
        print(f"novatui: {describe_db_error(state_dir / STORE_FILE, e)}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as e:  # the disk is full, a file is read-only or not ours...
        where = f"{e.filename}: " if e.filename else ""
        print(f"novatui: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("novatui: interrupted; submitted work continues at the next start", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
