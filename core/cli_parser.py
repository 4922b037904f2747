"""The CLI's arguments, shaped like `openstack server ...`; output options from cliff."""
from __future__ import annotations

import argparse
import math

from .actions import ACTIONS
from .cli_output import add_output_options


class CLIError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise CLIError(f"{self.prog}: {message}")


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def version() -> str:
    from importlib.metadata import PackageNotFoundError, version as dist_version
    try:
        return dist_version("novatui")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


class _Version(argparse.Action):
    """--version, with the package metadata read only when it is asked for."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"novatui {version()}")
        parser.exit()


COMPUTE_VERBS = ("start", "stop", "pause", "unpause", "suspend", "resume", "lock", "unlock",
                 "unrescue", "unshelve")


def _waiting(sp):
    sp.add_argument("--no-wait", action="store_true", help="return once the request is accepted")
    sp.add_argument("--wait-timeout", type=positive_seconds, default=600.0, metavar="SECONDS")


def _lister(sub, name, helptext, long_help=None):
    sp = sub.add_parser(name, help=helptext)
    add_output_options(sp)
    if long_help:
        sp.add_argument("--long", action="store_true", help=long_help)
    return sp


def _shower(sub, name, helptext):
    sp = sub.add_parser(name, help=helptext)
    add_output_options(sp, one=True)
    return sp


def _servers(sub):
    server = sub.add_parser("server", help="instances").add_subparsers(dest="verb", parser_class=_Parser)
    sp = _lister(server, "list", "list instances", "also Task State, Power State, "
                 "Availability Zone and Host")
    sp.add_argument("--host", help="only the instances on this host")
    sp.add_argument("--status", help="only instances with this status (ACTIVE, SHUTOFF, ERROR...)")
    sp.add_argument("--name", help="only instances whose name matches this regular expression")
    _shower(server, "show", "show one instance").add_argument("server")
    sp = _shower(server, "create", "launch an instance")
    _waiting(sp)
    sp.add_argument("--flavor", required=True)
    sp.add_argument("--image", required=True)
    sp.add_argument("--availability-zone")
    sp.add_argument("name")
    for verb in COMPUTE_VERBS:
        sp = server.add_parser(verb, help=ACTIONS[verb].description)
        _waiting(sp)
        sp.add_argument("servers", nargs="+", metavar="server")
    for verb, helptext, flag in (("reboot", "reboot (soft unless --hard)", "--hard"),
                                 ("delete", "terminate", "--force"),
                                 ("shelve", "shelve (`server shelve offload SERVER` offloads now)", None)):
        sp = server.add_parser(verb, help=helptext)
        _waiting(sp)
        if flag:
            sp.add_argument(flag, action="store_true")
        sp.add_argument("servers", nargs="+", metavar="server")
    for verb in ("rebuild", "rescue"):
        sp = server.add_parser(verb, help=ACTIONS[verb].description)
        _waiting(sp)
        sp.add_argument("--image")
        sp.add_argument("servers", nargs="+", metavar="server")
    sp = server.add_parser("migrate", help="cold migrate (or live, with --live)")
    _waiting(sp)
    sp.add_argument("--live", action="store_true")
    sp.add_argument("--host")
    sp.add_argument("servers", nargs="+", metavar="server")
    sp = server.add_parser("resize", help="resize --flavor F SERVER | resize confirm|revert SERVER")
    _waiting(sp)
    sp.add_argument("--flavor")
    sp.add_argument("servers", nargs="+", metavar="server")
    sp = server.add_parser("evacuate", help=ACTIONS["evacuate"].description)
    _waiting(sp)
    sp.add_argument("--host")
    sp.add_argument("servers", nargs="+", metavar="server")
    image_of = server.add_parser("image", help="server images").add_subparsers(
        dest="image_verb", parser_class=_Parser)
    sp = _shower(image_of, "create", ACTIONS["snapshot"].description)
    _waiting(sp)
    sp.add_argument("--name", required=True)
    sp.add_argument("servers", nargs=1, metavar="server")
    event = server.add_parser("event", help="instance action history").add_subparsers(
        dest="event_verb", parser_class=_Parser)
    _lister(event, "list", "the actions taken on an instance",
            "also Message, Finish Time and Events").add_argument("server")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="novatui", description="Run virtual machines on libvirt hosts, the way "
                "OpenStack Nova does. Without a command, starts the console.")
    p.add_argument("--version", action=_Version, nargs=0, help="show the version and exit")
    p.add_argument("--config", help="inventory file (default: $NOVATUI_CONFIG, ./hosts.toml, "
                   "~/.config/novatui/hosts.toml)")
    p.add_argument("--state-dir", help="an existing state directory (default: $NOVATUI_STATE_DIR "
                   "or $XDG_STATE_HOME/novatui, created when missing)")
    p.add_argument("--init", action="store_true", help="create --state-dir if it does not exist")
    p.add_argument("--read-only", action="store_true", help="watch, but refuse every change")
    p.add_argument("--url", help="attach to the novatui service at this URL (http://HOST:PORT "
                   "or unix:/path/api.sock; default: $NOVATUI_URL, else the state dir's service "
                   "when one runs); its token, if it needs one, from $NOVATUI_TOKEN")
    sub = p.add_subparsers(dest="noun", parser_class=_Parser)
    _servers(sub)
    sp = sub.add_parser("serve", help="run the service of the state dir in the foreground: "
                        "the Compute API on <state>/api.sock and, with --listen, on TCP")
    sp.add_argument("--listen", metavar="HOST:PORT",
                    help="also serve HTTP on this address (the Compute API's port is 8774)")
    sp.add_argument("--token", action="store_true",
                    help="require X-Auth-Token over TCP; needed to listen on a non-loopback "
                    "address. The tokens are made once into <state>/api-token (admin) and "
                    "<state>/api-token-read-only (0600)")

    host = sub.add_parser("host", help="compute hosts").add_subparsers(dest="verb", parser_class=_Parser)
    _lister(host, "list", "list compute hosts")
    _shower(host, "show", "a host's resources, used and free").add_argument("host")
    sp = host.add_parser("disable", help="the scheduler skips a disabled host")
    sp.add_argument("--reason")
    sp.add_argument("--down", action="store_true", help="also mark it down (allows evacuate)")
    sp.add_argument("host")
    host.add_parser("enable", help="enable a host (and clear --down)").add_argument("host")

    image = sub.add_parser("image", help="images").add_subparsers(dest="verb", parser_class=_Parser)
    _lister(image, "list", "list images", "also Disk Format, Size, Checksum and Type")
    _shower(image, "show", "show one image").add_argument("image")
    sp = _shower(image, "create", "register an image file (raw or qcow2)")
    sp.add_argument("--file", required=True)
    sp.add_argument("name")
    sp = image.add_parser("delete", help="delete an image (refused while a shelved instance needs it)")
    sp.add_argument("images", nargs="+", metavar="image")

    flavor = sub.add_parser("flavor", help="flavors").add_subparsers(dest="verb", parser_class=_Parser)
    _lister(flavor, "list", "list flavors")
    _shower(flavor, "show", "show one flavor").add_argument("flavor")
    return p
