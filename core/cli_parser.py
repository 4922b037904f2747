"""The CLI's arguments, shaped like `openstack server ...`; output options from cliff.

A command's parser is built only when the command is named: `novatui server pause X` builds
the top level, `server`'s verbs and `pause`, not the 40 other parsers (nor imports cliff's
formatters, whose options only the listing and showing commands have). Help and errors are
argparse's own, as if every parser had been built up front."""
from __future__ import annotations

import argparse
import math
from typing import Callable

from .actions import ACTIONS


class CLIError(Exception):
    pass


class _LazyParsers(dict):
    """A subcommand action's name -> parser map whose parsers are made on first use."""

    def __init__(self, action: "_Subcommands"):
        super().__init__()
        self.action = action
        self.builders: dict[str, Callable] = {}

    def __getitem__(self, name):
        parser = super().__getitem__(name)
        if parser is None:
            build = self.builders.pop(name)
            names = list(self)
            super().__delitem__(name)   # add_parser refuses a name it already has
            parser = self.action.add_parser(name)
            for later in names[names.index(name) + 1:]:  # back in its place: choices keep
                super().__setitem__(later, super().pop(later))   # their order
            build(parser)
        return parser

    # Whoever reads the map otherwise gets built parsers too, never a placeholder.
    def get(self, name, default=None):
        return self[name] if name in self else default

    def values(self):
        return [self[name] for name in list(self)]

    def items(self):
        return [(name, self[name]) for name in list(self)]


class _Subcommands(argparse._SubParsersAction):
    """argparse's subcommands, plus later(): a subcommand listed (in the usage, the help and
    the choices of an error) at once, its parser built when it is used."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._name_parser_map = self.choices = _LazyParsers(self)

    def later(self, name: str, help: str, build: Callable[[argparse.ArgumentParser], object]):
        """`build(parser)` fills the parser of `name` in when it is first needed."""
        if name in self._name_parser_map:
            raise argparse.ArgumentError(self, f"conflicting subparser: {name}")
        self._choices_actions.append(self._ChoicesPseudoAction(name, (), help))
        self._name_parser_map.builders[name] = build
        dict.__setitem__(self._name_parser_map, name, None)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise CLIError(f"{self.prog}: {message}")


def _subcommands(parser: argparse.ArgumentParser, dest: str) -> _Subcommands:
    return parser.add_subparsers(dest=dest, parser_class=_Parser, action=_Subcommands)


def add_output_options(parser: argparse.ArgumentParser, one: bool = False) -> None:
    from .cli_output import add_output_options as add  # cliff's formatters
    add(parser, one)


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


def _lister(sub, name, helptext, long_help=None, then=None):
    def build(sp):
        add_output_options(sp)
        if long_help:
            sp.add_argument("--long", action="store_true", help=long_help)
        if then:
            then(sp)
    sub.later(name, helptext, build)


def _shower(sub, name, helptext, then=None):
    def build(sp):
        add_output_options(sp, one=True)
        if then:
            then(sp)
    sub.later(name, helptext, build)


def _arg(*args, **kwargs):
    """A builder that adds one argument."""
    return lambda sp: sp.add_argument(*args, **kwargs)


def _acting(*flags, **kwargs):
    """A builder for a request's verb: --no-wait, --wait-timeout, `flags` (store_true), each of
    `kwargs` (name=help: an option with a value) and then its servers."""
    def build(sp):
        _waiting(sp)
        for flag in flags:
            sp.add_argument(flag, action="store_true")
        for option in kwargs:
            sp.add_argument(f"--{option}")
        sp.add_argument("servers", nargs="+", metavar="server")
    return build


def _server_list(sp):
    sp.add_argument("--host", help="only the instances on this host")
    sp.add_argument("--status", help="only instances with this status (ACTIVE, SHUTOFF, ERROR...)")
    sp.add_argument("--name", help="only instances whose name matches this regular expression")


def _server_create(sp):
    _waiting(sp)
    sp.add_argument("--flavor", required=True)
    sp.add_argument("--image", required=True)
    sp.add_argument("--availability-zone")
    sp.add_argument("name")


def _server_image(sp):
    def create(sp):
        _waiting(sp)
        sp.add_argument("--name", required=True)
        sp.add_argument("servers", nargs=1, metavar="server")
    _shower(_subcommands(sp, "image_verb"), "create", ACTIONS["snapshot"].description, create)


def _server_event(sp):
    _lister(_subcommands(sp, "event_verb"), "list", "the actions taken on an instance",
            "also Message, Finish Time and Events", _arg("server"))


def _server(sp):
    server = _subcommands(sp, "verb")
    _lister(server, "list", "list instances", "also Task State, Power State, "
            "Availability Zone and Host", _server_list)
    _shower(server, "show", "show one instance", _arg("server"))
    _shower(server, "create", "launch an instance", _server_create)
    for verb in COMPUTE_VERBS:
        server.later(verb, ACTIONS[verb].description, _acting())
    server.later("reboot", "reboot (soft unless --hard)", _acting("--hard"))
    server.later("delete", "terminate", _acting("--force"))
    server.later("shelve", "shelve (`server shelve offload SERVER` offloads now)", _acting())
    for verb in ("rebuild", "rescue"):
        server.later(verb, ACTIONS[verb].description, _acting(image=None))
    server.later("migrate", "cold migrate (or live, with --live)", _acting("--live", host=None))
    server.later("resize", "resize --flavor F SERVER | resize confirm|revert SERVER",
                 _acting(flavor=None))
    server.later("evacuate", ACTIONS["evacuate"].description, _acting(host=None))
    server.later("image", "server images", _server_image)
    server.later("event", "instance action history", _server_event)


def _serve(sp):
    sp.add_argument("--listen", metavar="HOST:PORT",
                    help="also serve HTTP on this address (the Compute API's port is 8774)")
    sp.add_argument("--token", action="store_true",
                    help="require X-Auth-Token over TCP; needed to listen on a non-loopback "
                    "address. The tokens are made once into <state>/api-token (admin) and "
                    "<state>/api-token-read-only (0600)")
    sp.add_argument("--no-compute", action="store_true",
                    help="the API and the conductor only: compute agents (`novatui compute "
                    "--host NAME`) drive the hosts")
    # The service a console starts for itself (core/console_service.py): it also stops,
    # settling first, when its standard input closes (the console is gone, even by kill -9).
    sp.add_argument("--for-console", action="store_true", help=argparse.SUPPRESS)


def _compute(sp):
    sp.add_argument("--host", required=True, metavar="NAME", action="append",
                    help="the inventory host whose compute service this process runs "
                    "(repeat it for an agent that drives several)")


def _host(sp):
    host = _subcommands(sp, "verb")
    _lister(host, "list", "list compute hosts")
    _shower(host, "show", "a host's resources, used and free", _arg("host"))

    def disable(sp):
        sp.add_argument("--reason")
        sp.add_argument("--down", action="store_true", help="also mark it down (allows evacuate)")
        sp.add_argument("host")
    host.later("disable", "the scheduler skips a disabled host", disable)
    host.later("enable", "enable a host (and clear --down)", _arg("host"))


def _image(sp):
    image = _subcommands(sp, "verb")
    _lister(image, "list", "list images", "also Disk Format, Size, Checksum and Type")
    _shower(image, "show", "show one image", _arg("image"))

    def create(sp):
        sp.add_argument("--file", required=True)
        sp.add_argument("name")
    _shower(image, "create", "register an image file (raw or qcow2)", create)
    image.later("delete", "delete an image (refused while a shelved instance needs it)",
                _arg("images", nargs="+", metavar="image"))


def _flavor(sp):
    flavor = _subcommands(sp, "verb")
    _lister(flavor, "list", "list flavors")
    _shower(flavor, "show", "show one flavor", _arg("flavor"))


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
    sub = _subcommands(p, "noun")
    sub.later("server", "instances", _server)
    sub.later("serve", "run the service of the state dir in the foreground: "
              "the Compute API on <state>/api.sock and, with --listen, on TCP", _serve)
    sub.later("compute", "run the compute service of one host or more (its agent, like "
              "nova-compute) in the foreground, on the hypervisor itself or beside it", _compute)
    sub.later("host", "compute hosts", _host)
    sub.later("image", "images", _image)
    sub.later("flavor", "flavors", _flavor)
    return p
