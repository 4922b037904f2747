"""Nova's state model: vm_state, task_state, power_state and the status users see."""

# vm_state
ACTIVE = "active"
BUILDING = "building"
PAUSED = "paused"
SUSPENDED = "suspended"
STOPPED = "stopped"
RESCUED = "rescued"
RESIZED = "resized"
SOFT_DELETED = "soft-delete"
DELETED = "deleted"
ERROR = "error"
SHELVED = "shelved"
SHELVED_OFFLOADED = "shelved_offloaded"

VM_STATES = (ACTIVE, BUILDING, PAUSED, SUSPENDED, STOPPED, RESCUED, RESIZED, SOFT_DELETED,
             DELETED, ERROR, SHELVED, SHELVED_OFFLOADED)

# task_state (None = idle)
SCHEDULING = "scheduling"
NETWORKING = "networking"
BLOCK_DEVICE_MAPPING = "block_device_mapping"
SPAWNING = "spawning"
REBOOTING = "rebooting"
REBOOT_PENDING = "reboot_pending"
REBOOT_STARTED = "reboot_started"
REBOOTING_HARD = "rebooting_hard"
REBOOT_PENDING_HARD = "reboot_pending_hard"
REBOOT_STARTED_HARD = "reboot_started_hard"
PAUSING = "pausing"
UNPAUSING = "unpausing"
SUSPENDING = "suspending"
RESUMING = "resuming"
POWERING_OFF = "powering-off"
POWERING_ON = "powering-on"
DELETING = "deleting"
IMAGE_SNAPSHOT_PENDING = "image_snapshot_pending"
IMAGE_SNAPSHOT = "image_snapshot"
IMAGE_PENDING_UPLOAD = "image_pending_upload"
IMAGE_UPLOADING = "image_uploading"
REBUILDING = "rebuilding"
REBUILD_BLOCK_DEVICE_MAPPING = "rebuild_block_device_mapping"
REBUILD_SPAWNING = "rebuild_spawning"
RESCUING = "rescuing"
UNRESCUING = "unrescuing"
SHELVING = "shelving"
SHELVING_IMAGE_PENDING_UPLOAD = "shelving_image_pending_upload"
SHELVING_IMAGE_UPLOADING = "shelving_image_uploading"
SHELVING_OFFLOADING = "shelving_offloading"
UNSHELVING = "unshelving"
RESIZE_PREP = "resize_prep"
RESIZE_MIGRATING = "resize_migrating"
RESIZE_MIGRATED = "resize_migrated"
RESIZE_FINISH = "resize_finish"
RESIZE_REVERTING = "resize_reverting"
RESIZE_CONFIRMING = "resize_confirming"
MIGRATING = "migrating"

REBOOT_STATES = (REBOOTING, REBOOT_PENDING, REBOOT_STARTED)
HARD_REBOOT_STATES = (REBOOTING_HARD, REBOOT_PENDING_HARD, REBOOT_STARTED_HARD)
ALLOW_REBOOT = (None, REBOOTING, REBOOT_PENDING, REBOOT_STARTED, RESUMING, REBOOTING_HARD,
                UNPAUSING, PAUSING, SUSPENDING)
BUILD_TASKS = (SCHEDULING, NETWORKING, BLOCK_DEVICE_MAPPING, SPAWNING)
REBUILD_TASKS = (REBUILDING, REBUILD_BLOCK_DEVICE_MAPPING, REBUILD_SPAWNING)
RESIZE_TASKS = (RESIZE_PREP, RESIZE_MIGRATING, RESIZE_MIGRATED, RESIZE_FINISH, RESIZE_REVERTING)

# power_state (nova/compute/power_state.py)
NOSTATE = 0
RUNNING = 1
PAUSED_POWER = 3
SHUTDOWN = 4
CRASHED = 6
SUSPENDED_POWER = 7

POWER_NAMES = {NOSTATE: "NOSTATE", RUNNING: "Running", PAUSED_POWER: "Paused",
               SHUTDOWN: "Shutdown", CRASHED: "Crashed", SUSPENDED_POWER: "Suspended"}

# virDomainState -> power_state (virt/libvirt/guest.py): NOSTATE, RUNNING, BLOCKED, PAUSED,
# SHUTDOWN, SHUTOFF, CRASHED, PMSUSPENDED.
LIBVIRT_POWER = {0: NOSTATE, 1: RUNNING, 2: RUNNING, 3: PAUSED_POWER, 4: SHUTDOWN,
                 5: SHUTDOWN, 6: CRASHED, 7: SUSPENDED_POWER}


def power_name(power_state: int | None) -> str:
    return POWER_NAMES.get(power_state or 0, "NOSTATE")


_TASK_STATUS = {
    **{t: "REBOOT" for t in REBOOT_STATES},
    **{t: "HARD_REBOOT" for t in HARD_REBOOT_STATES},
    "rebuilding": "REBUILD", "rebuild_block_device_mapping": "REBUILD",
    "rebuild_spawning": "REBUILD", "migrating": "MIGRATING",
    "resize_prep": "RESIZE", "resize_migrating": "RESIZE", "resize_migrated": "RESIZE",
    "resize_finish": "RESIZE", "updating_password": "PASSWORD",
}

_VM_STATUS = {
    ACTIVE: "ACTIVE", BUILDING: "BUILD", STOPPED: "SHUTOFF", RESIZED: "VERIFY_RESIZE",
    PAUSED: "PAUSED", SUSPENDED: "SUSPENDED", RESCUED: "RESCUE", ERROR: "ERROR",
    DELETED: "DELETED", SOFT_DELETED: "SOFT_DELETED", SHELVED: "SHELVED",
    SHELVED_OFFLOADED: "SHELVED_OFFLOADED",
}


def api_status(vm_state: str, task_state: str | None) -> str:
    """The status `server list` shows, as api/openstack/common.py maps it."""
    if vm_state == ACTIVE and task_state in _TASK_STATUS:
        return _TASK_STATUS[task_state]
    if vm_state == PAUSED and task_state == MIGRATING:
        return "MIGRATING"
    if vm_state == STOPPED and task_state and task_state.startswith(("resize", "rebuild")):
        return _TASK_STATUS.get(task_state, "SHUTOFF")
    if vm_state == RESIZED and task_state == "resize_reverting":
        return "REVERT_RESIZE"
    if vm_state == ERROR and task_state and task_state.startswith("rebuild"):
        return "REBUILD"
    return _VM_STATUS.get(vm_state, "UNKNOWN")
