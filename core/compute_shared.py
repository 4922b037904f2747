"""What compute's handlers return or raise to the wrapper that runs them."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

from .errors import NovaError

if TYPE_CHECKING:
    from .actions import Action
    from .bus import Message
    from .compute import ComputeManager


class ComputeResourcesUnavailable(NovaError):
    code = 500


class Rollback(Exception):
    """Raised by a handler that has put things back: the fault is recorded, and the instance
    takes these fields instead of the action's failure policy (Nova's InstanceFaultRollback)."""

    def __init__(self, cause: Exception, **fields):
        super().__init__(str(cause))
        self.cause, self.fields = cause, fields


CONTINUES = object()  # a handler's result: the operation goes on in another service


class StaleStep(Exception):
    """A step whose move is no longer where the step expects it (already done, taken over or
    ended): it does nothing and its message goes. The migration's status decided."""


def describe_migration(mig: dict) -> str:
    return f"migration {mig['id']} ({mig['migration_type']}, {mig['status']})"


class Job:
    """One operation on one instance: its request id and the task_state it holds now."""

    def __init__(self, mgr: "ComputeManager", msg: Message, inst: dict, action: Action):
        self.mgr, self.msg, self.inst, self.action = mgr, msg, inst, action
        self.ctx = msg.request_id
        self.uuid = inst["uuid"]
        self.task_state = inst["task_state"]
        self.args = msg.args
        self.commits: list[Callable[[], None]] = []

    def on_commit(self, write: Callable[[], None]) -> None:
        """A write that must commit with the step's outcome (its migration's status, the
        next step's cast), in the same transaction, or not at all."""
        self.commits.append(write)

    def commit(self) -> None:
        """Inside the step's final transaction: its writes, then its message goes."""
        for write in self.commits:
            write()
        self.mgr.bus.done(self.msg)

    def task(self, new: str | None) -> None:
        """Move to the next task_state, only if nobody else took the instance meanwhile."""
        self.inst = self.mgr.store.update_instance(self.uuid, expected_task_state=self.task_state,
                                                   task_state=new)
        self.task_state = new
        self.mgr.changed(self.inst)

    def progress(self, done: int, total: int) -> None:
        """A disk copy's progress, shown in the instance's row (a few updates, not one per chunk)."""
        percent = 100 * done // total if total else 100
        now = time.monotonic()
        if percent != 100 and now - self._last_progress < 0.5:
            return
        self._last_progress = now
        self.inst = self.mgr.store.update_instance(self.uuid, progress=percent)
        self.mgr.changed(self.inst)

    _last_progress = 0.0
