"""The headless CLI, shaped like `openstack server ...`, its output formatted by cliff's
formatters (as the `openstack` CLI's is). Without arguments it starts the console. Errors
are one line on stderr and a non-zero exit; nothing here imports Textual."""
from __future__ import annotations

import os
import re
import sqlite3
import sys
from pathlib import Path

from . import states as S
from .actions import ACTIONS
from .cli_output import (AddressesColumn, EventsColumn, FaultColumn, ListColumn, OutputError,
                         emit_list, emit_one)
from .cli_parser import CLIError, build_parser
from .config import default_state_dir, load_config
from .errors import NovaError
from .statedir import STORE_FILE, prepare_state_dir
from .store import describe_db_error
from .views import timestamp as _ts

EXIT_FAILED = 1   # the operation ran and failed (see the fault)
EXIT_REFUSED = 2  # bad input, or the request was refused; nothing changed

SERVER_COLUMNS = ["ID", "Name", "Status", "Networks", "Image", "Flavor"]
SERVER_LONG_COLUMNS = ["ID", "Name", "Status", "Task State", "Power State", "Networks", "Image",
                       "Flavor", "Availability Zone", "Host"]
EVENT_COLUMNS = ["Request ID", "Server ID", "Action", "Start Time"]
EVENT_LONG_COLUMNS = [*EVENT_COLUMNS, "Message", "Finish Time", "Events"]
IMAGE_COLUMNS = ["ID", "Name", "Status"]
IMAGE_LONG_COLUMNS = ["ID", "Name", "Disk Format", "Size", "Checksum", "Type", "Status"]
FLAVOR_COLUMNS = ["ID", "Name", "RAM", "Disk", "VCPUs"]
HOST_COLUMNS = ["name", "state", "enabled", "availability_zone", "vcpus_used", "vcpus",
                "memory_mb_used", "memory_mb", "disk_gb_used", "disk_gb", "instances"]


def resolve_config(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    if os.environ.get("NOVATUI_CONFIG"):
        return Path(os.environ["NOVATUI_CONFIG"])
    for candidate in (Path("hosts.toml"), Path("~/.config/novatui/hosts.toml").expanduser()):
        if candidate.exists():
            return candidate
    raise CLIError("novatui: no inventory: pass --config FILE or create ./hosts.toml")


# -- views, with the openstack CLI's names ---------------------------------------------
def _addresses(inst: dict, network: str) -> AddressesColumn:
    return AddressesColumn({network: [inst["ip"]]} if inst.get("ip") else {})


def server_row(inst: dict, network: str) -> dict:
    return {"ID": inst["uuid"], "Name": inst["name"],
            "Status": S.api_status(inst["vm_state"], inst["task_state"]),
            "Task State": inst["task_state"], "Power State": S.power_name(inst["power_state"]),
            "Networks": _addresses(inst, network), "Image": inst["image"],
            "Flavor": inst["flavor"], "Availability Zone": inst["availability_zone"],
            "Host": inst["host"]}


def server_view(inst: dict, fault: dict | None, network: str) -> dict:
    """`openstack server show`'s fields (sorted, as it sorts them). The fault's traceback
    is in -f json/yaml only; the table shows its message."""
    view = {
        "OS-EXT-AZ:availability_zone": inst["availability_zone"],
        "OS-EXT-SRV-ATTR:host": inst["host"],
        "OS-EXT-STS:power_state": S.power_name(inst["power_state"]),
        "OS-EXT-STS:task_state": inst["task_state"],
        "OS-EXT-STS:vm_state": inst["vm_state"],
        "OS-SRV-USG:launched_at": _ts(inst["launched_at"]),
        "addresses": _addresses(inst, network), "created": _ts(inst["created_at"]),
        "fault": FaultColumn(None if fault is None else {
            "code": fault["code"], "created": _ts(fault["created_at"]),
            "message": fault["message"], "details": fault["details"],
            "host": fault["host"], "request_id": fault["request_id"]}),
        "flavor": inst["flavor"], "id": inst["uuid"], "image": inst["image"],
        "locked": bool(inst["locked"]), "name": inst["name"],
        "status": S.api_status(inst["vm_state"], inst["task_state"]),
        "updated": _ts(inst["updated_at"]),
    }
    return dict(sorted(view.items()))


def image_view(i: dict) -> dict:
    return {"checksum": i["checksum"], "created_at": _ts(i["created_at"]),
            "disk_format": i["disk_format"], "id": i["id"], "instance_uuid": i["instance_uuid"],
            "name": i["name"], "size": i["size"], "status": i["status"], "type": i["type"]}


def image_row(i: dict) -> dict:
    return {"ID": i["id"], "Name": i["name"], "Disk Format": i["disk_format"], "Size": i["size"],
            "Checksum": i["checksum"], "Type": i["type"], "Status": i["status"]}


def flavor_view(f) -> dict:
    return {"disk": f.disk_gb, "id": f.name, "name": f.name, "ram": f.ram_mb, "vcpus": f.vcpus}


def event_row(a: dict, uuid: str) -> dict:
    return {"Request ID": a["request_id"], "Server ID": uuid, "Action": a["action"],
            "Start Time": _ts(a["start_time"]), "Message": a["message"],
            "Finish Time": _ts(a["finish_time"]),
            "Events": EventsColumn([{**e, "start_time": _ts(e["start_time"]),
                                     "finish_time": _ts(e["finish_time"])} for e in a["events"]])}


def host_view(h: dict) -> dict:
    return {k: v for k, v in h.items() if k != "heartbeat"}


def filter_servers(instances: list[dict], args) -> list[dict]:
    if args.status:
        instances = [i for i in instances if S.api_status(i["vm_state"], i["task_state"]).upper()
                     == args.status.upper()]
    if args.name:
        try:
            name = re.compile(args.name)
        except re.error as e:
            raise CLIError(f"novatui server list: --name {args.name!r} is not a regular "
                           f"expression: {e}") from None
        instances = [i for i in instances if name.search(i["name"])]
    return instances


# -- commands --------------------------------------------------------------------------
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



def server_command(args, engine) -> int:
    verb, network = args.verb, engine.config.network_name
    if verb == "list":
        rows = [server_row(i, network) for i in filter_servers(engine.instances(args.host), args)]
        emit_list(args, rows, SERVER_LONG_COLUMNS if args.long else SERVER_COLUMNS,
                  SERVER_LONG_COLUMNS)
        return 0
    if verb == "show":
        inst = engine.instance(args.server)
        emit_one(args, server_view(inst, engine.fault(inst["uuid"]), network))
        return 0
    if verb == "create":
        req = engine.create(args.name, args.flavor, args.image, args.availability_zone)
        rc = _wait_and_report(engine, req, args, "create")
        inst = engine.store.get_instance(req.instance_uuid)
        emit_one(args, server_view(inst, engine.fault(inst["uuid"]), network))
        return rc
    if verb == "event":
        uuid = engine.instance(args.server)["uuid"]
        emit_list(args, [event_row(a, uuid) for a in engine.actions(args.server)],
                  EVENT_LONG_COLUMNS if args.long else EVENT_COLUMNS, EVENT_LONG_COLUMNS)
        return 0
    if verb == "image":
        if args.image_verb is None:
            raise CLIError("novatui server image: a command is needed (create)")
        req = engine.request("snapshot", args.servers[0], name=args.name)
        rc = _wait_and_report(engine, req, args, "snapshot")
        images = [i for i in engine.images.list() if i["name"] == args.name]
        if images:
            emit_one(args, image_view(images[-1]))
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


def run_command(args, engine) -> int:
    noun, verb = args.noun, args.verb
    if noun == "server":
        return server_command(args, engine)
    if noun == "host":
        if verb == "list":
            emit_list(args, [host_view(h) for h in engine.hosts()], HOST_COLUMNS)
        elif verb == "show":
            engine.config.host(args.host)
            view = host_view(next(h for h in engine.hosts() if h["name"] == args.host))
            emit_one(args, {**view, "vcpus_free": view["vcpus"] - view["vcpus_used"],
                            "memory_mb_free": view["memory_mb"] - view["memory_mb_used"],
                            "disk_gb_free": view["disk_gb"] - view["disk_gb_used"],
                            "servers": ListColumn([i["name"] for i in engine.instances(args.host)])})
        else:
            engine.submit(engine.api.set_host, args.host, verb == "enable",
                          getattr(args, "reason", None), getattr(args, "down", False)).result()
        return 0
    if noun == "flavor":
        if verb == "show":
            emit_one(args, flavor_view(engine.config.flavor(args.flavor)))
        else:
            rows = [{"ID": f.name, "Name": f.name, "RAM": f.ram_mb, "Disk": f.disk_gb, "VCPUs": f.vcpus}
                    for f in engine.config.flavors.values()]
            emit_list(args, rows, FLAVOR_COLUMNS)
        return 0
    if noun == "image":
        if verb == "list":
            emit_list(args, [image_row(i) for i in engine.images.list()],
                      IMAGE_LONG_COLUMNS if args.long else IMAGE_COLUMNS, IMAGE_LONG_COLUMNS)
        elif verb == "show":
            emit_one(args, image_view(engine.images.get(args.image)))
        elif verb == "create":
            emit_one(args, image_view(engine.submit(engine.api.create_image, args.name,
                                                    args.file).result()))
        elif verb == "delete":
            images = list({i["id"]: i for i in map(engine.images.get, args.images)}.values())
            images.sort(key=lambda i: not engine.images.users(i["id"]))  # refused ones first
            for image in images:
                engine.submit(engine.api.delete_image, image["id"]).result()
        return 0
    raise CLIError(f"novatui {noun}: a command is needed (see novatui {noun} --help)")


def _quiet_stdout() -> None:
    """The reader of our output went away (`| head -1`): send the rest nowhere, so that
    neither we nor the interpreter's exit flush print a BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    state_dir = None
    try:
        args = build_parser().parse_args(argv)
        if args.noun is not None and (getattr(args, "verb", None) is None
                                      or (args.verb == "event" and args.event_verb is None)):
            raise CLIError(f"novatui {args.noun}: a command is needed (see novatui {args.noun} --help)")
        config = load_config(resolve_config(args.config))
        # A mistyped --state-dir must not start an empty cloud: only the default one, or an
        # explicit --init, creates a state dir.
        state_dir = prepare_state_dir(args.state_dir or default_state_dir(), args.read_only,
                                      create=args.init or args.state_dir is None)
        if args.noun is None:
            from tui.app import run_console  # the console alone pulls in Textual
            return run_console(config, state_dir, read_only=args.read_only)
        from .engine import Engine, waiting_line
        engine = Engine(config, state_dir, read_only=args.read_only, own="free")
        engine.start()
        try:
            rc = run_command(args, engine)
            sys.stdout.flush()
            return rc
        except BrokenPipeError:
            _quiet_stdout()
            return 0
        finally:  # the steps this process carries reach a resting state first
            engine.stop(on_wait=lambda rows: print(waiting_line(rows), file=sys.stderr))
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except (CLIError, OutputError) as e:
        print(str(e) if isinstance(e, CLIError) else f"novatui: {e}", file=sys.stderr)
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
