"""The one table of instance actions.

The API checks requests against it, compute reads the in-flight task_state, end state and
failure policy from it, the CLI builds its verbs from it, and the console builds its keys,
footer, palette, help screen and read-only mode from it. Adding an action is one entry here
and, when it touches the hypervisor, one handler in compute.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import states as S
from .errors import InstanceInvalidState, InstanceIsLocked

ANY = None  # an unrestricted vm_state / task_state check


@dataclass(frozen=True)
class Action:
    name: str                       # CLI verb and palette name ("pause", "reboot_hard")
    description: str
    instance_action: str            # Nova's instance-action record ("pause", "reboot")
    vm_states: frozenset | None     # allowed vm_states; None = any
    task_state: str | None          # the task_state set by the API while it runs
    end_vm_state: str | None        # vm_state on success; None = unchanged
    path: str = "compute"           # "compute": cast to the host; "conductor": scheduled; "api": DB only
    task_states: tuple | None = (None,)   # allowed task_states; None = any
    lock_checked: bool = True
    destructive: bool = False
    must_have_launched: bool = True
    on_error: str = "keep"          # vm_state after a failure: keep | error | error_unless_running
    key: str | None = None          # console key; actions sharing a key toggle by state
    http: tuple[str, str] = ("POST", "/action")
    http_status: int = 202
    event: str = ""                 # compute event name, as in compute_<event>
    takes_migration: str | None = None  # the API moves the 'finished' migration to this status
    api_action: str = ""            # the key of Nova's action request body ("os-stop")
    needs_host_up: bool = False     # refused while the instance's compute service is down

    @property
    def nova_name(self) -> str:
        """The name Nova's API gives the action in a 409 ("Cannot 'createImage' instance"):
        its request body's key, with os-start/os-stop read as start/stop."""
        return {"os-start": "start", "os-stop": "stop"}.get(self.api_action, self.api_action)

    def refusal(self, inst: dict, taken: bool = False) -> Exception | None:
        """Why the API would refuse this action for `inst` (None when it is allowed).
        taken: `inst` is what the API's take returned (its task_state is the new one; the
        take checked the one before)."""
        uuid, name = inst["uuid"], self.nova_name
        if self.lock_checked and inst.get("locked"):
            return InstanceIsLocked(f"Instance {uuid} is locked")
        if self.vm_states is not None and inst["vm_state"] not in self.vm_states:
            return InstanceInvalidState(
                f"Cannot '{name}' instance {uuid} while it is in vm_state {inst['vm_state']}")
        if not taken and self.task_states is not None \
                and inst.get("task_state") not in self.task_states:
            return InstanceInvalidState(
                f"Cannot '{name}' instance {uuid} while it is in task_state {inst['task_state']}")
        if self.must_have_launched and self.vm_states is not None and not inst.get("launched_at"):
            return InstanceInvalidState(
                f"Cannot '{name}' instance {uuid} while it is in vm_state {inst['vm_state']}")
        return None

    def allowed(self, inst: dict) -> bool:
        return self.refusal(inst) is None

    def request_body(self, params: dict) -> dict | None:
        """The body Nova's API gets for this action (None for a DELETE)."""
        if self.http[0] == "DELETE":
            return None
        renamed = {BODY_KEYS.get(k, k): v for k, v in params.items() if k not in ("image",)}
        if self.name.startswith("reboot"):
            renamed = {"type": "HARD" if self.name == "reboot_hard" else "SOFT"}
        elif self.name == "live_migrate":
            renamed = {"host": params.get("host"), "block_migration": "auto"}
        elif self.name == "rescue" and "imageRef" in renamed:
            renamed = {"rescue_image_ref": renamed["imageRef"]}
        return {self.api_action: renamed or None}


# Our parameters under the names Nova's request bodies give them.
BODY_KEYS = {"flavor": "flavorRef", "image_id": "imageRef"}


def _a(**kw) -> Action:
    kw.setdefault("event", f"{kw['name']}_instance")
    kw.setdefault("api_action", kw["instance_action"])
    if isinstance(kw.get("vm_states"), (tuple, list)):
        kw["vm_states"] = frozenset(kw["vm_states"])
    return Action(**kw)


_TABLE = [
    _a(name="create", description="Launch an instance on a host the scheduler picks",
       instance_action="create", vm_states=ANY, task_state=S.SCHEDULING, end_vm_state=S.ACTIVE,
       path="conductor", task_states=ANY, lock_checked=False, must_have_launched=False,
       on_error="error", key="n", http=("POST", ""), event="_do_build_and_run_instance"),
    _a(name="start", description="Power on a stopped instance", instance_action="start",
       vm_states=[S.STOPPED], task_state=S.POWERING_ON, end_vm_state=S.ACTIVE, key="s",
       event="start_instance", api_action="os-start"),
    _a(name="stop", description="Shut the guest down (destroyed after shutdown_timeout)",
       instance_action="stop", vm_states=[S.ACTIVE, S.ERROR], task_state=S.POWERING_OFF,
       end_vm_state=S.STOPPED, key="o", event="stop_instance", api_action="os-stop"),
    _a(name="reboot", description="Soft reboot: ask the guest to restart",
       instance_action="reboot", vm_states=[S.ACTIVE], task_state=S.REBOOTING,
       end_vm_state=S.ACTIVE, on_error="error_unless_running", key="r", event="reboot_instance"),
    _a(name="reboot_hard", description="Hard reboot: destroy and start the guest again",
       instance_action="reboot",
       vm_states=[S.ACTIVE, S.STOPPED, S.PAUSED, S.SUSPENDED, S.ERROR],
       task_state=S.REBOOTING_HARD, task_states=S.ALLOW_REBOOT, end_vm_state=S.ACTIVE,
       on_error="error_unless_running", key="R", event="reboot_instance"),
    _a(name="pause", description="Pause: keep the guest's state in host memory",
       instance_action="pause", vm_states=[S.ACTIVE], task_state=S.PAUSING,
       end_vm_state=S.PAUSED, key="p"),
    _a(name="unpause", description="Unpause a paused instance", instance_action="unpause",
       vm_states=[S.PAUSED], task_state=S.UNPAUSING, end_vm_state=S.ACTIVE, key="p"),
    _a(name="suspend", description="Suspend: save the guest's state to the host's disk",
       instance_action="suspend", vm_states=[S.ACTIVE], task_state=S.SUSPENDING,
       end_vm_state=S.SUSPENDED, on_error="error", key="z"),
    _a(name="resume", description="Resume a suspended instance from its saved state",
       instance_action="resume", vm_states=[S.SUSPENDED], task_state=S.RESUMING,
       end_vm_state=S.ACTIVE, on_error="error", key="z"),
    _a(name="lock", description="Lock: refuse lock-checked actions until unlocked",
       instance_action="lock", vm_states=ANY, task_state=None, end_vm_state=None, path="api",
       task_states=ANY, lock_checked=False, must_have_launched=False, key="L", event="api_lock"),
    _a(name="unlock", description="Unlock a locked instance", instance_action="unlock",
       vm_states=ANY, task_state=None, end_vm_state=None, path="api", task_states=ANY,
       lock_checked=False, must_have_launched=False, key="L", event="api_unlock"),
    _a(name="snapshot", description="Snapshot: save the system disk as a new image",
       instance_action="createImage",
       vm_states=[S.ACTIVE, S.STOPPED, S.PAUSED, S.SUSPENDED], task_state=S.IMAGE_SNAPSHOT_PENDING,
       end_vm_state=None, lock_checked=False, key="i", event="snapshot_instance"),
    _a(name="rebuild", description="Rebuild: replace the disk with an image's content",
       instance_action="rebuild", vm_states=[S.ACTIVE, S.STOPPED, S.ERROR],
       task_state=S.REBUILDING, end_vm_state=S.ACTIVE, on_error="error", key="b", destructive=True,
       event="rebuild_instance"),
    _a(name="rescue", description="Rescue: boot a rescue image with the disk attached second",
       instance_action="rescue", vm_states=[S.ACTIVE, S.STOPPED, S.ERROR],
       task_state=S.RESCUING, end_vm_state=S.RESCUED, on_error="error", key="x",
       event="rescue_instance"),
    _a(name="unrescue", description="Unrescue: boot from the instance's own disk again",
       instance_action="unrescue", vm_states=[S.RESCUED], task_state=S.UNRESCUING,
       end_vm_state=S.ACTIVE, on_error="error", key="x", event="unrescue_instance"),
    _a(name="shelve", description="Shelve: save the disk as an image and free the host",
       instance_action="shelve", vm_states=[S.ACTIVE, S.STOPPED, S.PAUSED, S.SUSPENDED],
       task_state=S.SHELVING, end_vm_state=S.SHELVED, key="h", event="shelve_instance"),
    _a(name="shelve_offload", description="Offload a shelved instance from its host now",
       instance_action="shelveOffload", vm_states=[S.SHELVED], task_state=S.SHELVING_OFFLOADING,
       end_vm_state=S.SHELVED_OFFLOADED, event="shelve_offload_instance"),
    _a(name="unshelve", description="Unshelve: spawn from the shelved image (scheduled)",
       instance_action="unshelve", vm_states=[S.SHELVED, S.SHELVED_OFFLOADED],
       task_state=S.UNSHELVING, end_vm_state=S.ACTIVE, path="conductor", key="h",
       event="unshelve_instance"),
    _a(name="migrate", description="Cold migrate to another host (then confirm or revert)",
       instance_action="migrate", vm_states=[S.ACTIVE, S.STOPPED], task_state=S.RESIZE_PREP,
       end_vm_state=S.RESIZED, path="conductor", key="m", event="prep_resize", needs_host_up=True),
    _a(name="resize", description="Resize to another flavor (then confirm or revert)",
       instance_action="resize", vm_states=[S.ACTIVE, S.STOPPED], task_state=S.RESIZE_PREP,
       end_vm_state=S.RESIZED, path="conductor", key="e", event="prep_resize", needs_host_up=True),
    _a(name="confirm_resize", description="Confirm a resize or migration: free the source",
       instance_action="confirmResize", vm_states=[S.RESIZED], task_state=None,
       end_vm_state=S.ACTIVE, on_error="error", key="c", http_status=204,
       event="confirm_resize", takes_migration="confirming", needs_host_up=True),
    _a(name="revert_resize", description="Revert a resize or migration: back to the source",
       instance_action="revertResize", vm_states=[S.RESIZED], task_state=S.RESIZE_REVERTING,
       end_vm_state=S.ACTIVE, on_error="error", key="v", event="revert_resize"),
    _a(name="live_migrate", description="Live migrate to another host (libvirt migration)",
       instance_action="live-migration", vm_states=[S.ACTIVE, S.PAUSED], task_state=S.MIGRATING,
       end_vm_state=None, path="conductor", key="M", event="live_migration",
       api_action="os-migrateLive"),
    _a(name="evacuate", description="Evacuate from a host that is down: rebuild elsewhere",
       instance_action="evacuate", vm_states=[S.ACTIVE, S.STOPPED, S.ERROR],
       task_state=S.REBUILDING, task_states=ANY, end_vm_state=S.ACTIVE, path="conductor",
       lock_checked=False,
       on_error="error", key="E", destructive=True, event="rebuild_instance"),
    _a(name="delete", description="Terminate: destroy the guest, delete its disk, free its IP",
       instance_action="delete", vm_states=ANY, task_state=S.DELETING, end_vm_state=S.DELETED,
       task_states=ANY, destructive=True, must_have_launched=False, on_error="error",
       key="d", http=("DELETE", ""), http_status=204, event="terminate_instance"),
    _a(name="force_delete", description="Force delete: terminate at once, whatever it is doing",
       instance_action="delete", vm_states=ANY, task_state=S.DELETING, end_vm_state=S.DELETED,
       task_states=ANY, destructive=True, must_have_launched=False, on_error="error",
       key="D", event="terminate_instance", api_action="forceDelete"),
]

ACTIONS: dict[str, Action] = {a.name: a for a in _TABLE}


def get(name: str) -> Action:
    return ACTIONS[name]

