"""The compute API (nova-api + nova/compute/api.py): check a request against the action
table, take the instance with a compare-and-swap on task_state, record the instance action,
write the n-api line, and cast the work. Nothing here talks to a hypervisor.
"""
from __future__ import annotations

import json
import time
import uuid as uuidlib
from typing import Callable

from . import states as S
from .actions import ACTIONS, Action
from .bus import CONDUCTOR, MessageBus, compute_topic
from .config import Config, validate_name
from .crashpoints import crash_point
from .errors import Conflict, InstanceInvalidState, InvalidInput, ReadOnly, only_one
from .events import ActionFinished, InstanceChanged, Request
from .hosts import host_views
from .images import ImageStore
from .logs import LogSink, ServiceLog
from .store import Store


def new_request_id() -> str:
    return f"req-{uuidlib.uuid4()}"


class _NothingTaken(Exception):
    """perform_taking_first's take found nothing to take: its transaction rolls back."""


class API:
    def __init__(self, config: Config, store: Store, bus: MessageBus, images: ImageStore,
                 sink: LogSink, notify: Callable[[object], None], read_only: bool = False):
        self.config, self.store, self.bus, self.images = config, store, bus, images
        self.notify = notify
        self.read_only = read_only
        self.wsgi = ServiceLog(sink, "n-api", "nova.osapi_compute.wsgi.server")
        self.log = ServiceLog(sink, "n-api", "nova.compute.api")

    # -- lookups -----------------------------------------------------------------------
    def get_instance(self, ref: str) -> dict:
        return only_one(self.store.find_instances(ref), "server", ref)

    # -- requests ----------------------------------------------------------------------
    # The HTTP layer (core/osapi) writes the access line and "HTTP exception thrown" of a
    # request; a call made in-process (the CLI with no service running) has neither.

    def _check_writable(self, name: str) -> None:
        if self.read_only:
            raise ReadOnly(f"novatui is in read-only mode: '{name}' refused")

    def create(self, name: str, flavor: str, image: str,
               availability_zone: str | None = None, ctx: str | None = None) -> Request:
        self._check_writable("create")
        validate_name("server", name)
        fl = self.config.flavor(flavor)
        img = self.images.get(image)
        zones = sorted({h.availability_zone for h in self.config.hosts})
        if availability_zone is not None and availability_zone not in zones:
            raise InvalidInput(f"The requested availability zone {availability_zone!r} is not "
                               f"available (have: {', '.join(zones)})")
        ctx = ctx or new_request_id()
        uuid = str(uuidlib.uuid4())
        inst = self.store.create_instance({
            "uuid": uuid, "name": name, "flavor": fl.name, "vcpus": fl.vcpus,
            "memory_mb": fl.ram_mb, "root_gb": fl.disk_gb, "image": img["name"],
            "image_id": img["id"], "vm_state": S.BUILDING, "task_state": S.SCHEDULING,
            "power_state": S.NOSTATE, "availability_zone": availability_zone,
            "created_at": time.time(), "sys_meta": {"requested_az": availability_zone}})
        self.store.start_action(uuid, "create", ctx)
        self.wsgi.debug(f"Action: 'create', calling method: create, body: "
                        f'{{"server": {{"name": "{name}", "flavorRef": "{fl.name}", '
                        f'"imageRef": "{img["id"]}"}}}}', ctx=ctx, logger="nova.api.openstack.wsgi")
        self.bus.cast(CONDUCTOR, "build_instances", ctx, uuid=uuid, tried=[])
        self.notify(InstanceChanged(inst))
        return Request(ctx, uuid, "create")

    def perform(self, name: str, ref: str, /, ctx: str | None = None, **params) -> Request:
        """Any action of the table but create, on the instance named or id'd by `ref`.
        ctx: the request id (an HTTP request's own); a new one when None."""
        ACTIONS[name]  # refusals in their order: an unknown action, read-only, no instance
        self._check_writable(name)
        return self.perform_on(name, self.get_instance(ref), ctx=ctx, **params)

    def perform_on(self, name: str, inst: dict, /, ctx: str | None = None, **params) -> Request:
        """perform() on an instance just read (live) by the caller: not read twice."""
        action = ACTIONS[name]
        self._check_writable(name)
        ctx = ctx or new_request_id()
        uuid = inst["uuid"]
        refusal = action.refusal(inst)
        if refusal is not None:
            raise refusal
        if action.task_state == S.DELETING and inst["task_state"] == S.DELETING \
                and not self._delete_locally(inst):
            # Nova's _delete: the host is up and already deleting it; a down host's
            # instance is deleted locally below, as any delete there is.
            self.log.info("Instance is already in deleting state, ignoring this request",
                          ctx=ctx, instance=uuid)
            return Request(ctx, uuid, name, done=True)
        if action.path == "api":
            return self._api_only(ctx, action, inst)
        return self._take(action, uuid, ctx, self._params(action, inst, params))

    def perform_taking_first(self, name: str, uuid: str, /, ctx: str | None = None,
                             **params) -> Request | None:
        """perform_on with no read of the instance before its take (a statement fewer a
        request: a script's burst is most of all these): the take's conditional UPDATE
        checks the state, and the rest of the checks run on the instance it returns, in its
        transaction, which a refusal rolls back. None, with nothing changed, when nothing
        was taken (no such instance, or a state that refuses): the caller reads it then and
        perform_on refuses as Nova would, in Nova's order."""
        action = ACTIONS[name]
        if self.read_only or action.path == "api" or action.task_state == S.DELETING:
            return None   # refused after the read; their checks need the instance as it was
        try:
            return self._take(action, uuid, ctx or new_request_id(), params, checked=False)
        except _NothingTaken:
            return None

    def _take(self, action: Action, uuid: str, ctx: str, params: dict,
              checked: bool = True) -> Request:
        """The take, the action's record and its cast, in one transaction. checked: the
        instance was read and the action's checks passed before (else they run here, on
        the instance taken)."""
        name = action.name
        with self.store.tx():  # the take, the record and the cast commit together
            taken = self.store.begin_task(uuid, action.vm_states, action.task_states,
                                          action.lock_checked, action.task_state)
            if taken is None and not checked:
                raise _NothingTaken
            if taken is None:  # another request changed the instance since we read it
                current = self.store.get_instance(uuid)
                refusal = action.refusal(current) or InstanceInvalidState(
                    f"Cannot '{action.nova_name}' instance {uuid} while it is in task_state {current['task_state']}")
                raise refusal
            if not checked:
                refusal = action.refusal(taken, taken=True)
                if refusal is not None:
                    raise refusal
                params = self._params(action, taken, params)
            taken_migration = action.takes_migration and self.store.take_migration(
                uuid, action.takes_migration)
            if action.takes_migration and taken_migration is None:
                raise InvalidInput("Instance has not been resized.")
            self.store.start_action(uuid, action.instance_action, ctx)
            self.wsgi.debug(f"Action: '{action.api_action}', calling method: {name}, body: "
                            f"{json.dumps(action.request_body(params))}", ctx=ctx,
                            logger="nova.api.openstack.wsgi")
            params = self._after_take(action, taken, params)
            if params.pop("target_state", None) is not None:
                taken = self.store.update_instance(
                    uuid, sys_meta={**taken["sys_meta"], "evacuate_target_state": S.STOPPED})
            if taken_migration:  # the step is tied to the migration the API took
                params["migration_id"] = taken_migration
            local = action.task_state == S.DELETING and self._delete_locally(taken)
            if local:
                shelve_image = self._local_delete(ctx, taken)
            elif action.path == "conductor":
                self.bus.cast(CONDUCTOR, name, ctx, uuid=uuid, **params)
            else:
                self.bus.cast(compute_topic(self._target_host(action, taken)), name, ctx,
                              uuid=uuid, **params)
        crash_point(f"api.{name}:accepted")
        if local:  # only once the delete is committed does the shelve image's file go
            if shelve_image is not None:
                self.images.finish_delete(shelve_image)
            crash_point(f"api.{name}:local_files_deleted")
            done = self.store.get_instance(uuid)
            self.notify(InstanceChanged(done))
            self.notify(ActionFinished(ctx, uuid, "delete", True))
            return Request(ctx, uuid, "delete", done=True)
        self.notify(InstanceChanged(taken))
        return Request(ctx, uuid, name)

    # -- per-action arguments, checked before anything changes ------------------------
    def _params(self, action: Action, inst: dict, params: dict) -> dict:
        name, uuid = action.name, inst["uuid"]
        params = {k: v for k, v in params.items() if v is not None}
        needs_host = action.path == "compute" and action.task_state != S.DELETING
        if needs_host and inst["host"] is None:
            raise InstanceInvalidState(f"Cannot '{name}' instance {uuid}: it is not on any host")
        if name in ("snapshot",):
            validate_name("image", params.get("name"))
        if name in ("rebuild", "rescue") and "image" in params:
            params["image_id"] = self.images.get(params.pop("image"))["id"]
        if name in ("rebuild", "rescue", "evacuate", "unshelve"):
            self._check_image(name, inst, params)
        if name == "resize":
            old, new = self.config.flavor(inst["flavor"]), self.config.flavor(params.get("flavor") or "")
            if new.name == old.name:
                raise InvalidInput("When resizing, instances must change flavor!")
            if new.disk_gb < old.disk_gb:
                raise InvalidInput(f"Unable to resize disk down: flavor {new.name} has "
                                   f"{new.disk_gb} GB, the instance has {old.disk_gb} GB.")
        if name in ("migrate", "resize", "live_migrate", "evacuate") and "host" in params:
            self.config.host(params["host"])
            if params["host"] == inst["host"] and name != "resize":
                raise InvalidInput(f"The target host can't be the same one: {params['host']}")
        if name == "evacuate":
            self._check_target_state(params)
            view = host_views(self.config, self.store, only=inst["host"]) if inst["host"] else []
            if view and view[0]["state"] == "up":
                raise InvalidInput(f"Compute service of {inst['host']} is still in use.")
        if name in ("confirm_resize", "revert_resize"):
            mig = self.store.active_migration(uuid)
            if mig is None or mig["status"] != "finished":  # Nova: MigrationNotFound
                raise InvalidInput("Instance has not been resized.")
        if action.needs_host_up:
            host = self._target_host(action, inst)
            view = host_views(self.config, self.store, only=host) if host else []
            if not view or view[0]["state"] != "up":  # Nova's check_instance_host(check_is_up)
                raise Conflict("Service is unavailable at this time.")
        return params

    @staticmethod
    def _check_target_state(params: dict) -> None:
        """From microversion 2.95 an evacuated instance arrives stopped (Nova's
        target_state); an ERROR one still comes back ACTIVE (compute decides)."""
        target = params.get("target_state")
        if target not in (None, S.STOPPED):
            raise InvalidInput(f"Invalid target state {target!r} for evacuate: only "
                               f"{S.STOPPED!r} is supported")

    def _check_image(self, name: str, inst: dict, params: dict) -> None:
        """The image the action will build from must exist (400, nothing changed)."""
        if name == "unshelve":
            if inst["vm_state"] != S.SHELVED_OFFLOADED:
                return
            image_id = inst["sys_meta"].get("shelved_image_id")
        else:
            image_id = params.get("image_id") or inst["image_id"]
        image = self.store.get_image(image_id) if image_id else None
        if image is None or image["status"] != "active":
            raise InvalidInput(f"Image {image_id} could not be found: cannot '{name}' instance "
                               f"{inst['uuid']}")

    def _after_take(self, action: Action, inst: dict, params: dict) -> dict:
        """Snapshot and shelve create their (queued) image first, as Nova's API does."""
        if action.name in ("snapshot", "shelve"):
            name = params.pop("name", None) or f"{inst['name']}-shelved"
            source = self.store.get_image(inst["image_id"]) or {"disk_format": "raw"}
            params["image_id"] = self.images.new_snapshot(name, inst["uuid"], source["disk_format"])["id"]
        return params

    def _target_host(self, action: Action, inst: dict) -> str:
        """Confirm runs where the kept copy is: the migration's source."""
        if action.name == "confirm_resize":
            return self.store.active_migration(inst["uuid"])["source_host"]
        return inst["host"]

    # -- hosts and images ----------------------------------------------------------------
    def set_host(self, name: str, enabled: bool, reason: str | None = None,
                 forced_down: bool = False) -> dict:
        """Disable (the scheduler skips it) or enable a host; --down marks it down so its
        instances can be evacuated, as `openstack compute service set --down` does."""
        self._check_writable("host enable" if enabled else "host disable")
        self.config.host(name)
        self.store.set_service(name, disabled=int(not enabled),
                               disabled_reason=None if enabled else reason,
                               forced_down=int(forced_down))
        self.notify(("host", name))
        return host_views(self.config, self.store, only=name)[0]

    def create_image(self, name: str, file: str) -> dict:
        self._check_writable("image create")
        validate_name("image", name)
        return self.images.create_from_file(name, file)

    def delete_image(self, ref: str) -> dict:
        self._check_writable("image delete")
        return self.images.delete(ref)

    def _delete_locally(self, inst: dict) -> bool:
        """Nova deletes in the database alone when no compute service can do it."""
        if inst["host"] is None:
            return True
        view = host_views(self.config, self.store, only=inst["host"])
        return not view or view[0]["state"] == "down"

    def _local_delete(self, ctx: str, inst: dict):
        """The delete in the database alone (inside the request's transaction). Returns the
        shelve image's file, which the caller removes once this has committed."""
        uuid = inst["uuid"]
        if inst["host"] is not None:
            self.log.warning(f"instance's host {inst['host']} is down, deleting from database",
                             ctx=ctx, instance=uuid)
        shelve_image = self.images.forget_shelved(uuid)
        mig = self.store.active_migration(uuid)
        if mig is not None:
            self.store.update_migration(mig["id"], status="error", held_host=None)
        self.store.release_ips(uuid)
        self.store.update_instance(uuid, vm_state=S.DELETED, task_state=None,
                                   deleted_at=time.time(), power_state=S.NOSTATE)
        self.store.finish_action(ctx)
        return shelve_image

    def _api_only(self, ctx: str, action: Action, inst: dict) -> Request:
        """lock / unlock: a database change with an api_ event, no cast."""
        uuid = inst["uuid"]
        if not self.store.set_locked(uuid, action.name == "lock"):
            # already so: Nova answers 202 and changes nothing
            return Request(ctx, uuid, action.name, done=True)
        self.store.start_action(uuid, action.instance_action, ctx)
        event = self.store.start_event(ctx, action.event, None)
        self.store.finish_event(event, "Success")
        self.store.finish_action(ctx)
        self.notify(InstanceChanged(self.store.get_instance(uuid)))
        self.notify(ActionFinished(ctx, uuid, action.name, True))
        return Request(ctx, uuid, action.name, done=True)
