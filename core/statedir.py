"""The state dir: an absolute path, private to its owner (it holds guests' disks), and a
store that knows the guests its hosts hold.

Every refusal is one line naming the path and the reason, raised before anything changed.
"""
from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from pathlib import Path

from .errors import NovaError, describe_db_error

STORE_FILE = "novatui.db"
MARK_FILE = ".novatui"           # made in every state dir: a store in PostgreSQL leaves no file
MARKERS = (STORE_FILE, "hosts", MARK_FILE)  # what only a novatui state dir holds
PRIVATE = 0o077                  # group and other bits: none are left on anything here
STORE_LOCK_WAIT = 5.0            # seconds to wait for another process's write to end


class StateDirError(NovaError):
    code = 400


class StoreMismatch(NovaError):
    """The store is new or empty but the hosts hold guests: a lost or replaced database."""

    code = 409


def prepare_state_dir(path: str | os.PathLike, read_only: bool = False,
                      create: bool = True, tighten: bool = True) -> Path:
    """The state dir as an absolute path, created (0700) or checked and made private.

    With `create` false a missing state dir is refused: the CLI passes it for an explicit
    --state-dir (without --init), so that a mistyped path does not start an empty cloud.

    Writable mode also sets the umask to 077, so that every file created afterwards is
    0600 and every directory 0700, and (with `tighten`) takes group and other bits off
    everything already there: a walk of every file, which a console that starts a service
    on the state dir leaves to it. Read-only mode changes nothing and needs an existing
    store."""
    path = Path(os.path.abspath(Path(path).expanduser()))
    exists = _existing_dir(path)
    if read_only:
        if not exists:
            raise StateDirError(f"state dir {path} does not exist: --read-only watches an "
                                "existing store and creates nothing")
        _check_readable(path)
        return path
    if not exists and not create:
        raise StateDirError(f"state dir {path} does not exist: pass --init to create a new "
                            "cloud there")
    os.umask(PRIVATE)
    if not exists:
        try:
            path.mkdir(mode=0o700, parents=True)
        except OSError as e:
            raise StateDirError(f"state dir {path} cannot be created: {e.strerror}") from None
    else:
        _check_is_ours(path)
    _check_writable(path)
    if tighten:
        _tighten(path)
    if not (path / MARK_FILE).exists():
        (path / MARK_FILE).touch(mode=0o600)
    return path


def _existing_dir(path: Path) -> bool:
    """Whether `path` is a directory; refuses a file there or on the way to it."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        blocker = next((p for p in reversed(path.parents) if p.exists() and not p.is_dir()),
                       path.parent)
        raise StateDirError(f"state dir {path} cannot be created: {blocker} is a file, "
                            "not a directory") from None
    except OSError as e:
        raise StateDirError(f"state dir {path} cannot be reached: {e.strerror}") from None
    if not stat.S_ISDIR(mode):
        raise StateDirError(f"state dir {path} is not a directory")
    return True


def _check_readable(path: Path) -> None:
    if not os.access(path, os.R_OK | os.X_OK):
        raise StateDirError(f"state dir {path} cannot be read: {os.strerror(errno.EACCES)}")
    store = path / STORE_FILE
    if not store.is_file():
        raise StateDirError(f"state dir {path} holds no {STORE_FILE}: --read-only watches an "
                            "existing store and creates nothing")
    if not os.access(store, os.R_OK):
        raise StateDirError(f"state store {store} cannot be read: {os.strerror(errno.EACCES)}")


def _check_is_ours(path: Path) -> None:
    """Never take over (and chmod) a directory that holds something else: a mistyped
    --state-dir of ~ or / must not end up 0700."""
    try:
        names = set(os.listdir(path))
    except OSError as e:
        raise StateDirError(f"state dir {path} cannot be read: {e.strerror}") from None
    if names and not names & set(MARKERS):
        raise StateDirError(f"state dir {path} is not empty and holds no {STORE_FILE} or "
                            "hosts/: it is not a novatui state dir; use a new or empty one")


def _check_writable(path: Path) -> None:
    """Create and remove a file, and open the store's files for writing: what SQLite and
    the logs will do, so that they cannot fail later with a vaguer message."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".novatui-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise StateDirError(f"state dir {path} is not writable: {e.strerror}") from None
    for name in (STORE_FILE, f"{STORE_FILE}-wal", f"{STORE_FILE}-shm"):
        try:
            os.close(os.open(path / name, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC))
        except FileNotFoundError:
            continue
        except OSError as e:
            raise StateDirError(f"state store {path / name} cannot be opened for writing: "
                                f"{e.strerror}") from None
    if (path / STORE_FILE).is_file():
        _check_store_lock(path)


def _check_store_lock(path: Path) -> None:
    """Take the store's write lock and let it go, writing nothing: a store held by another
    process, or not SQLite at all, is refused now rather than after the busy timeout.
    sqlite3 itself, not the store's SQLAlchemy: a console paints before that is imported."""
    import sqlite3
    try:
        conn = sqlite3.connect(path / STORE_FILE, timeout=STORE_LOCK_WAIT, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise StateDirError(describe_db_error(path / STORE_FILE, e)) from None


def _tighten(path: Path) -> None:
    """Take group and other permissions off the state dir and everything in it (symlinks
    are left alone); one warning line when anything was more open than 0700/0600."""
    loosened: list[tuple[str, int]] = []

    def fix(p: str) -> None:
        try:
            st = os.lstat(p)
        except FileNotFoundError:  # removed meanwhile by a process sharing the dir
            return
        if stat.S_ISLNK(st.st_mode) or not st.st_mode & PRIVATE:
            return
        mode = stat.S_IMODE(st.st_mode)
        try:
            os.chmod(p, mode & ~PRIVATE)
        except OSError as e:
            raise StateDirError(f"cannot make {p} private ({mode:04o}): {e.strerror}") from None
        loosened.append((p, mode))

    def unreadable(e: OSError) -> None:
        if not isinstance(e, FileNotFoundError):
            raise StateDirError(f"cannot check the permissions of {e.filename}: {e.strerror}")

    fix(os.path.realpath(path))  # the state dir itself may be a symlink to it
    for top, dirs, files in os.walk(path, onerror=unreadable):
        for name in dirs + files:
            fix(os.path.join(top, name))
    if loosened:
        first, mode = loosened[0]
        more = f" and {len(loosened) - 1} more in it" if len(loosened) > 1 else ""
        print(f"novatui: tightened permissions of {first} (was {mode:04o}){more}: "
              "it holds guests' disks", file=sys.stderr)


def check_store_matches_hosts(store_was_fresh: bool, config, state_dir: str | os.PathLike) -> None:
    """A store that was just created (no tables existed) while the hosts hold guests or
    instance disks is a lost or replaced database: refuse to start over those guests, as
    Nova cannot run without its database."""
    if not store_was_fresh:
        return
    from .virt import host_files  # libvirt is loaded only where it is needed

    state_dir = Path(state_dir)
    held, outside = [], []
    for host in config.hosts:
        guests = _guests_in_node(state_dir, host) if host.simulated else 0
        disks = []
        if host.ssh is None:  # a remote host's files are not looked at here
            root = Path(host_files(host, state_dir).root)
            disks = _instance_dirs(root)
            if disks and state_dir not in root.parents:
                outside.append(str(root))
        if guests or disks:
            what = (f"{guests} guest{'s' * (guests != 1)}" if guests else
                    f"{len(disks)} instance director{'ies' if len(disks) != 1 else 'y'}")
            held.append(f"host {host.name} holds {what}")
    if not held:
        return
    elsewhere = f" (and the instance directories in {', '.join(outside)})" if outside else ""
    raise StoreMismatch(
        f"the store {state_dir / STORE_FILE} is empty or new, but {', '.join(held)}: the "
        f"database was lost or replaced. Restore {STORE_FILE} from a backup, or move "
        f"{state_dir}{elsewhere} aside to start afresh; novatui will not start over guests "
        "it does not know")


def _guests_in_node(state_dir: Path, host) -> int:
    try:
        node = state_dir / "hosts" / host.name / "node.xml"
        return node.read_text(errors="replace").count("<domain")
    except FileNotFoundError:
        return 0


def _instance_dirs(root: Path) -> list[str]:
    try:
        return [n for n in os.listdir(root) if n != "_base"]
    except (FileNotFoundError, NotADirectoryError):
        return []
