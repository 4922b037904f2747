"""The CLI's commands, on a Client: the same code whether the work runs in this process or
in the state dir's service."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .actions import ACTIONS
from .cli_parser import CLIError
from .errors import InvalidInput

if TYPE_CHECKING:
    from .client import Client

# The views and cliff's formatters (core/cli_views.py, core/cli_output.py) are imported by the
# commands that print: a request's verb (`server pause X`) prints nothing and does without.

EXIT_FAILED = 1   # the operation ran and failed (see the fault)
EXIT_REFUSED = 2  # bad input, or the request was refused; nothing changed


def _wait_and_report(client: Client, req, args, verb: str) -> int:
    if args.no_wait or req.done:
        return 0
    action = client.wait(req, args.wait_timeout)
    if action["message"] == "Error":
        fault = client.fault(req.instance_uuid)
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


def server_command(args, client: Client) -> int:
    verb = args.verb
    if verb in ("list", "show", "create", "event", "image"):
        return _server_read(args, client)
    action, refs, params = server_action(args)
    rc = 0
    # Every name is resolved before anything is asked, and an instance the state table
    # refuses goes first: a bad reference or state leaves every instance as it was.
    targets = list({i["uuid"]: i for i in map(client.instance, refs)}.values())
    targets.sort(key=lambda i: ACTIONS[action].refusal(i) is None)
    requests = [client.request(action, i["uuid"], **params) for i in targets]
    for req in requests:
        rc = max(rc, _wait_and_report(client, req, args, verb))
    return rc


def _server_read(args, client: Client) -> int:
    """The server verbs that print: list, show, create, event list, image create."""
    from .cli_output import emit_list, emit_one
    from .cli_views import (EVENT_COLUMNS, EVENT_LONG_COLUMNS, SERVER_COLUMNS,
                            SERVER_LONG_COLUMNS, event_row, filter_servers, image_view,
                            server_row, server_view)
    verb = args.verb
    # The network's name (GET /novatui/info) only for the verbs that show addresses.
    network = client.info()["network_name"] if verb in ("list", "show", "create") else None
    if verb == "list":
        rows = [server_row(i, network) for i in filter_servers(client.instances(args.host), args)]
        emit_list(args, rows, SERVER_LONG_COLUMNS if args.long else SERVER_COLUMNS,
                  SERVER_LONG_COLUMNS)
        return 0
    if verb == "show":
        inst = client.instance(args.server)
        emit_one(args, server_view(inst, client.fault(inst["uuid"]), network))
        return 0
    if verb == "create":
        req = client.create(args.name, args.flavor, args.image, args.availability_zone)
        rc = _wait_and_report(client, req, args, "create")
        inst = client.instance(req.instance_uuid)
        emit_one(args, server_view(inst, client.fault(inst["uuid"]), network))
        return rc
    if verb == "event":
        uuid = client.instance(args.server)["uuid"]
        emit_list(args, [event_row(a, uuid) for a in client.actions(uuid)],
                  EVENT_LONG_COLUMNS if args.long else EVENT_COLUMNS, EVENT_LONG_COLUMNS)
        return 0
    if verb == "image":
        if args.image_verb is None:
            raise CLIError("novatui server image: a command is needed (create)")
        req = client.request("snapshot", args.servers[0], name=args.name)
        rc = _wait_and_report(client, req, args, "snapshot")
        images = [i for i in client.images() if i["name"] == args.name]
        if images:
            emit_one(args, image_view(images[-1]))
        return rc
    raise AssertionError(verb)


def _host(client: Client, name: str) -> dict:
    for h in client.hosts():
        if h["name"] == name:
            return h
    raise InvalidInput(f"no host named {name!r} (have: "
                       f"{', '.join(h['name'] for h in client.hosts())})")


def host_command(args, client: Client) -> int:
    from .cli_output import ListColumn, emit_list, emit_one
    from .cli_views import HOST_COLUMNS, host_view
    if args.verb == "list":
        emit_list(args, [host_view(h) for h in client.hosts()], HOST_COLUMNS)
    elif args.verb == "show":
        view = host_view(_host(client, args.host))
        emit_one(args, {**view, "vcpus_free": view["vcpus"] - view["vcpus_used"],
                        "memory_mb_free": view["memory_mb"] - view["memory_mb_used"],
                        "disk_gb_free": view["disk_gb"] - view["disk_gb_used"],
                        "servers": ListColumn([i["name"] for i in client.instances(args.host)])})
    else:
        _host(client, args.host)
        client.set_host(args.host, args.verb == "enable", getattr(args, "reason", None),
                        getattr(args, "down", False))
    return 0


def flavor_command(args, client: Client) -> int:
    from .cli_output import emit_list, emit_one
    from .cli_views import FLAVOR_COLUMNS, flavor_row, flavor_view
    flavors = client.info()["flavors"]
    if args.verb == "show":
        found = [f for f in flavors if f["name"] == args.flavor]
        if not found:
            raise InvalidInput(f"no flavor named {args.flavor!r} (have: "
                               f"{', '.join(f['name'] for f in flavors)})")
        emit_one(args, flavor_view(found[0]))
    else:
        emit_list(args, [flavor_row(f) for f in flavors], FLAVOR_COLUMNS)
    return 0


def image_command(args, client: Client) -> int:
    from .cli_output import emit_list, emit_one
    from .cli_views import IMAGE_COLUMNS, IMAGE_LONG_COLUMNS, image_row, image_view
    verb = args.verb
    if verb == "list":
        emit_list(args, [image_row(i) for i in client.images()],
                  IMAGE_LONG_COLUMNS if args.long else IMAGE_COLUMNS, IMAGE_LONG_COLUMNS)
    elif verb == "show":
        emit_one(args, image_view(client.image(args.image)))
    elif verb == "create":
        emit_one(args, image_view(client.create_image(args.name, args.file)))
    elif verb == "delete":
        images = list({i["id"]: i for i in map(client.image, args.images)}.values())
        images.sort(key=lambda i: not client.image_users(i["id"]))  # refused ones first
        for image in images:
            client.delete_image(image["id"])
    return 0


COMMANDS = {"server": server_command, "host": host_command, "flavor": flavor_command,
            "image": image_command}


def run_command(args, client: Client) -> int:
    command = COMMANDS.get(args.noun)
    if command is None:
        raise CLIError(f"novatui {args.noun}: a command is needed (see novatui {args.noun} --help)")
    return command(args, client)
