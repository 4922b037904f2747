"""POST /servers/{id}/action bodies, Nova's, back to the action table: the inverse of
core.actions.Action.request_body, with the parameters core.api.API.perform takes.

Each Nova action lists the body keys it turns into a parameter, and those whose value
changes nothing here (a block_migration flag: the engine decides; onSharedStorage). Any
other key with a value (a rebuild's new name, an admin password, a lock reason, snapshot
metadata) is refused with 400 rather than dropped, so a client never believes it happened."""
from __future__ import annotations

import reprlib
from dataclasses import dataclass, field

from ..actions import ACTIONS
from .common import BadRequest


@dataclass(frozen=True)
class BodySpec:
    name: str                                      # the action table's
    takes: dict = field(default_factory=dict)      # body key -> perform parameter
    ignores: frozenset = frozenset()
    required: tuple = ()


def _specs() -> dict[str, BodySpec]:
    special = {
        "reboot": BodySpec("reboot", required=("type",)),   # type picks reboot_hard
        "rebuild": BodySpec("rebuild", {"imageRef": "image"}, frozenset({"OS-DCF:diskConfig"}),
                            ("imageRef",)),
        "rescue": BodySpec("rescue", {"rescue_image_ref": "image"}),
        "createImage": BodySpec("snapshot", {"name": "name"}, required=("name",)),
        "resize": BodySpec("resize", {"flavorRef": "flavor"}, frozenset({"OS-DCF:diskConfig"}),
                           ("flavorRef",)),
        "migrate": BodySpec("migrate", {"host": "host"}),
        "os-migrateLive": BodySpec("live_migrate", {"host": "host"},
                                   frozenset({"block_migration", "disk_over_commit", "force"}),
                                   ("block_migration",)),
        "evacuate": BodySpec("evacuate", {"host": "host"},
                             frozenset({"onSharedStorage", "force"})),
    }
    plain = {a.api_action: BodySpec(a.name) for a in ACTIONS.values()
             if a.http[0] == "POST" and a.http[1] == "/action"}
    return {**plain, **special}


SPECS = _specs()
EMPTY = (None, "", {}, [], False)    # a key with such a value asks for nothing
REBOOT_TYPES = {"SOFT": "reboot", "HARD": "reboot_hard"}


# -- input checks the handlers share ---------------------------------------------------
ECHO_CHARS = 80            # what an error message quotes of a value a request sent
MAX_NAME = 255             # Nova's and Glance's names, a service's disabled_reason
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = ECHO_CHARS
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 8
_REPR.maxlevel = 3
JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean",
              dict: "object", list: "array", type(None): "null"}


def _cut(text: str) -> str:
    return text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS - 3] + "..."


def shown(value) -> str:
    """A value a request sent, as an error message quotes it (str-like): bounded."""
    return _cut(value) if isinstance(value, str) else _cut(_REPR.repr(value))


def shown_repr(value) -> str:
    """The same, quoted as repr quotes it."""
    return _cut(_REPR.repr(value))


def invalid(key: str, value, reason: str) -> BadRequest:
    """Nova's jsonschema 400: 'Invalid input for field/attribute K. Value: V. reason'."""
    return BadRequest(f"Invalid input for field/attribute {shown(key)}. Value: {shown(value)}. "
                      f"{reason}")


def check_type(key: str, value, *types: type):
    """value, when it is one of `types` (a bool is no integer); else Nova's 400."""
    ok = any(isinstance(value, t) and not (t is int and isinstance(value, bool)) for t in types)
    if not ok:
        names = ", ".join(repr(JSON_TYPES.get(t, t.__name__)) for t in types)
        raise invalid(key, value, f"{shown_repr(value)} is not of type {names}")
    return value


def check_string(key: str, value, max_length: int = MAX_NAME, min_length: int = 0) -> str:
    """A string of min_length..max_length characters; else Nova's 400."""
    check_type(key, value, str)
    if len(value) > max_length:
        raise invalid(key, value, f"{shown_repr(value)} is too long (at most {max_length} "
                                  "characters)")
    if len(value) < min_length:
        raise invalid(key, value, f"{shown_repr(value)} is too short (at least {min_length} "
                                  f"character{'s' if min_length > 1 else ''})")
    return value


def check_objects(key: str, value) -> list[dict]:
    """A list of JSON objects; else Nova's 400."""
    check_type(key, value, list)
    for item in value:
        if not isinstance(item, dict):
            raise invalid(key, value, f"{shown_repr(item)} is not of type 'object'")
    return value


# The types of the action parameters Nova's schemas give (flavorRef: string or integer);
# a name and a host are at most 255 characters too.
ARG_TYPES = {"imageRef": (str,), "rescue_image_ref": (str,), "flavorRef": (str, int),
             "host": (str,), "name": (str,)}
BOUNDED_ARGS = ("host", "name")


def ref_id(value) -> str:
    """flavorRef / imageRef may be an href: its last segment is the id (get_id_from_href)."""
    return str(value).rstrip("/").rsplit("/", 1)[-1]


def action_from_body(body: dict) -> tuple[str, dict]:
    """(action name, perform's parameters) of a Nova action body; Nova's 400 when the body
    is not one."""
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Malformed request body")
    (key, args), = body.items()
    spec = SPECS.get(key)
    if spec is None:
        raise BadRequest(f"There is no such action: {shown(key)}")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {shown_repr(args)}. "
                         f"{shown_repr(args)} is not of type 'object', 'null'")
    for needed in spec.required:
        if needed not in args:
            raise invalid(key, args, f"'{needed}' is a required property")
    known = set(spec.takes) | spec.ignores | set(spec.required)
    for extra in sorted(k for k, v in args.items() if k not in known and v not in EMPTY):
        raise BadRequest(f"Invalid input for field/attribute {key}: '{shown(extra)}' is not "
                         "supported by novatui")
    if key == "reboot":
        kind = str(args["type"]).upper()
        if kind not in REBOOT_TYPES:
            raise invalid("type", args["type"], f"'{shown(args['type'])}' is not one of "
                                                "['HARD', 'SOFT']")
        return REBOOT_TYPES[kind], {}
    for k in spec.takes:
        if args.get(k) is not None:
            check_type(k, args[k], *ARG_TYPES[k])
            if k in BOUNDED_ARGS:
                check_string(k, args[k])
    params = {param: args[k] for k, param in spec.takes.items() if args.get(k) is not None}
    for param in ("image", "flavor"):
        if param in params:
            params[param] = ref_id(params[param])
    return spec.name, params
