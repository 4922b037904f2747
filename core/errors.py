"""Exceptions with Nova's codes and words. Every one renders as one line for the user."""


class NovaError(Exception):
    code = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(NovaError):
    code = 400


class ConfigError(InvalidInput):
    """A bad inventory file: the message names the file, the key and the reason."""


class NotFound(NovaError):
    code = 404


class ReadOnly(NovaError):
    code = 403


class Conflict(NovaError):
    code = 409


class InstanceInvalidState(Conflict):
    pass


class InstanceIsLocked(Conflict):
    pass


class UnexpectedTaskState(Conflict):
    """The compare-and-swap on task_state failed: another operation owns the instance."""


class NoValidHost(NovaError):
    code = 500


class HostOwned(NovaError):
    """A simulated (or any) host is already driven by another novatui process."""


class DriverError(NovaError):
    """A libvirt or host-file call failed."""


def only_one(found: list, kind: str, ref: str):
    """The one record a name or id names, or the error that says why not."""
    if not found:
        raise NotFound(f"No {kind} with a name or ID of '{ref}' exists.")
    if len(found) > 1:
        raise InvalidInput(f"More than one {kind} exists with the name '{ref}'; use its ID.")
    return found[0]


def describe_db_error(where, e) -> str:
    """One line for a store that cannot be used, saying what to do about it."""
    reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0] if str(
        getattr(e, "orig", None) or e).strip() else type(e).__name__
    if "locked" in reason:
        hint = "another process holds it locked; try again when it is done"
    elif "malformed" in reason or "not a database" in reason:
        hint = ("it is damaged; restore it from a backup, or move the state dir aside to "
                "start afresh (the guests on the hosts are then unknown to novatui)")
    elif "unable to open" in reason or "readonly" in reason:
        hint = "check that the state dir exists and that this user can write it"
    elif "connection" in reason or "connect" in reason or "password" in reason:
        hint = "check that the database server runs and that [database] connection is right"
    else:
        hint = "check the disk that holds it (full? read-only?)"
    kind = "state store" if "://" not in str(where) else "database"
    return f"{kind} {where}: {reason}; {hint}"
