"""POST /servers/{id}/action bodies, Nova's, back to the action table: the inverse of
core.actions.Action.request_body, with the parameters core.api.API.perform takes.

Each Nova action lists the body keys it turns into a parameter, and those whose value
changes nothing here (a block_migration flag: the engine decides; onSharedStorage). Any
other key with a value (a rebuild's new name, an admin password, a lock reason, snapshot
metadata) is refused with 400 rather than dropped, so a client never believes it happened."""
from __future__ import annotations

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
        raise BadRequest(f"There is no such action: {key}")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {args!r}. "
                         f"{args!r} is not of type 'object', 'null'")
    for needed in spec.required:
        if needed not in args:
            raise BadRequest(f"Invalid input for field/attribute {key}. Value: {args}. "
                             f"'{needed}' is a required property")
    known = set(spec.takes) | spec.ignores | set(spec.required)
    for extra in sorted(k for k, v in args.items() if k not in known and v not in EMPTY):
        raise BadRequest(f"Invalid input for field/attribute {key}: '{extra}' is not "
                         "supported by novatui")
    if key == "reboot":
        kind = str(args["type"]).upper()
        if kind not in REBOOT_TYPES:
            raise BadRequest(f"Invalid input for field/attribute type. Value: {args['type']}. "
                             f"'{args['type']}' is not one of ['HARD', 'SOFT']")
        return REBOOT_TYPES[kind], {}
    params = {param: args[k] for k, param in spec.takes.items() if args.get(k) is not None}
    for param in ("image", "flavor"):
        if param in params:
            params[param] = ref_id(params[param])
    return spec.name, params
