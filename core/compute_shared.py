"""What compute's handlers return or raise to the wrapper that runs them."""
from __future__ import annotations

from .errors import NovaError


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
