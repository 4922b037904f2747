"""File work on a compute host: instance directories and disks.

`LocalFiles` serves simulated hosts and hypervisors on this machine. `RemoteFiles` does the
same over SSH with paramiko: SFTP for files, `exec_command` for what must run there, the host
key checked against known_hosts (never added), every remote argument quoted.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shlex
import shutil
import subprocess
import threading
from pathlib import Path, PurePosixPath
from typing import Callable

from .crashpoints import crash_point
from .errors import DriverError

CHUNK = 1 << 20
Progress = Callable[[int, int], None]


class HostKeyRefused(DriverError):
    code = 500


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


class LocalFiles:
    """dir_mode: for a hypervisor on this machine, directories QEMU's own user can pass
    through (novatui's umask makes 0700 ones); None keeps the umask's (the state dir)."""

    remote = False

    def __init__(self, root: Path, dir_mode: int | None = None):
        self.root = Path(root)
        self.dir_mode = dir_mode
        self.label = "this machine"

    def instance_dir(self, uuid: str) -> Path:
        return self.root / uuid

    def put_file(self, local_src: Path, dest: Path, progress: Progress | None = None) -> None:
        self.makedirs(Path(dest).parent)
        _copy_stream(Path(local_src), Path(dest), progress)

    def get_file(self, src: Path, local_dest: Path, progress: Progress | None = None) -> None:
        Path(local_dest).parent.mkdir(parents=True, exist_ok=True)
        _copy_stream(Path(src), Path(local_dest), progress)

    def copy_within(self, src: Path, dest: Path, progress: Progress | None = None) -> None:
        self.put_file(src, dest, progress)

    def exists(self, path) -> bool:
        return Path(path).exists()

    def size(self, path) -> int:
        return Path(path).stat().st_size

    def sha256(self, path) -> str:
        return sha256_file(path)

    def rename(self, src, dest) -> None:
        os.replace(src, dest)

    def list_dir(self, path) -> list[str]:
        """Names in a directory; [] when it does not exist."""
        try:
            return sorted(os.listdir(path))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def makedirs(self, path) -> None:
        path = Path(path)
        if self.dir_mode is None or path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            return
        self.makedirs(path.parent)
        path.mkdir(exist_ok=True)
        os.chmod(path, self.dir_mode)

    def remove(self, path) -> None:
        Path(path).unlink(missing_ok=True)

    def remove_tree(self, path) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def write_text(self, path, text: str) -> None:
        self.makedirs(Path(path).parent)
        tmp = Path(str(path) + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)

    def read_text(self, path) -> str:
        return Path(path).read_text()

    def run(self, *argv: str) -> str:
        """Run a command on this machine (no shell: arguments are passed as they are)."""
        try:
            done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise DriverError(f"{argv[0]} failed: {e}") from None
        if done.returncode != 0:
            raise DriverError(f"{argv[0]} exited {done.returncode}: {done.stderr.strip()[:300]}")
        return done.stdout

    def free_disk_gb(self) -> int:
        self.makedirs(self.root)
        st = os.statvfs(self.root)
        return -(-st.f_blocks * st.f_frsize // (1 << 30))  # rounded up, as df -B1G does

    def close(self) -> None:
        pass


def _copy_stream(src: Path, dest: Path, progress: Progress | None) -> None:
    total = src.stat().st_size
    done = 0
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        while chunk := fin.read(CHUNK):
            fout.write(chunk)
            crash_point("copy:writing")
            done += len(chunk)
            if progress:
                progress(done, total)


class _RefuseUnknownHost:
    """paramiko's MissingHostKeyPolicy: refuse, naming the host and the key's fingerprint."""

    def __init__(self, known_hosts: Path):
        self.known_hosts = known_hosts

    def missing_host_key(self, client, hostname, key):
        fingerprint = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
        raise HostKeyRefused(
            f"host key of {hostname} is not in {self.known_hosts} ({key.get_name()} "
            f"SHA256:{fingerprint}); check the fingerprint and add it to known_hosts: "
            "novatui never adds keys itself")


class RemoteFiles:
    """A host's files over SSH. One connection, opened on first use, kept for later calls."""

    remote = True

    def __init__(self, hostname: str, port: int, user: str, key_file: Path | None,
                 known_hosts: Path, root: PurePosixPath):
        self.hostname, self.port, self.user = hostname, port, user
        self.key_file, self.known_hosts = key_file, known_hosts
        self.root = PurePosixPath(root)
        self.label = f"{user}@{hostname}:{port}"
        self._client = None
        self._sftp = None
        self._lock = threading.Lock()

    # -- connection --------------------------------------------------------------------
    def _connect(self):
        import paramiko

        client = paramiko.SSHClient()
        try:
            client.load_host_keys(str(self.known_hosts))
        except FileNotFoundError:
            pass  # every key is then unknown, and refused below
        client.set_missing_host_key_policy(_RefuseUnknownHost(self.known_hosts))
        try:
            client.connect(self.hostname, port=self.port, username=self.user,
                           key_filename=str(self.key_file) if self.key_file else None,
                           look_for_keys=self.key_file is None, allow_agent=True, timeout=10,
                           banner_timeout=10, auth_timeout=10)
        except HostKeyRefused:
            client.close()
            raise
        except paramiko.BadHostKeyException as e:
            client.close()
            raise HostKeyRefused(f"host key of {self.hostname} does not match {self.known_hosts}: "
                                 f"{e}; refusing to connect") from None
        except (paramiko.SSHException, OSError) as e:
            client.close()
            raise DriverError(f"cannot reach {self.label} over SSH: {e}") from None
        return client

    def _sftp_client(self):
        with self._lock:
            if self._client is None or not self._client.get_transport() or \
                    not self._client.get_transport().is_active():
                self._client = self._connect()
                self._sftp = self._client.open_sftp()
            return self._sftp

    def run(self, *argv: str) -> str:
        """Run one command on the host; every argument is quoted."""
        self._sftp_client()
        command = " ".join(shlex.quote(str(a)) for a in argv)
        try:
            _, out, err = self._client.exec_command(command, timeout=600)
            status = out.channel.recv_exit_status()
            stdout, stderr = out.read().decode(), err.read().decode()
        except Exception as e:  # noqa: BLE001 - paramiko raises many kinds
            self.close()
            raise DriverError(f"{argv[0]} on {self.label} failed: {e}") from None
        if status != 0:
            raise DriverError(f"{argv[0]} on {self.label} exited {status}: {stderr.strip()[:300]}")
        return stdout

    def _io(self, what: str, fn, *args):
        try:
            return fn(*args)
        except HostKeyRefused:
            raise
        except Exception as e:  # noqa: BLE001 - a cut connection surfaces as many kinds
            self.close()
            raise DriverError(f"{what} on {self.label} failed: {e}") from None

    def close(self) -> None:
        with self._lock:
            for thing in (self._sftp, self._client):
                try:
                    if thing is not None:
                        thing.close()
                except Exception:  # noqa: BLE001
                    pass
            self._client = self._sftp = None

    # -- files -------------------------------------------------------------------------
    def instance_dir(self, uuid: str) -> PurePosixPath:
        return self.root / uuid

    def put_file(self, local_src: Path, dest, progress: Progress | None = None) -> None:
        self.makedirs(PurePosixPath(dest).parent)
        sftp = self._sftp_client()
        self._io(f"upload of {dest}", sftp.put, str(local_src), str(dest), progress)

    def get_file(self, src, local_dest: Path, progress: Progress | None = None) -> None:
        Path(local_dest).parent.mkdir(parents=True, exist_ok=True)
        sftp = self._sftp_client()
        self._io(f"download of {src}", sftp.get, str(src), str(local_dest), progress)

    def copy_within(self, src, dest, progress: Progress | None = None) -> None:
        self.makedirs(PurePosixPath(dest).parent)
        self.run("cp", "--sparse=always", "--", str(src), str(dest))

    def exists(self, path) -> bool:
        sftp = self._sftp_client()
        try:
            sftp.stat(str(path))
            return True
        except FileNotFoundError:
            return False
        except Exception as e:  # noqa: BLE001
            self.close()
            raise DriverError(f"stat of {path} on {self.label} failed: {e}") from None

    def size(self, path) -> int:
        return self._io(f"stat of {path}", lambda: self._sftp_client().stat(str(path)).st_size)

    def sha256(self, path) -> str:
        return self.run("sha256sum", "--", str(path)).split()[0]

    def rename(self, src, dest) -> None:
        self.run("mv", "-f", "--", str(src), str(dest))

    def list_dir(self, path) -> list[str]:
        def listing():
            try:
                return sorted(self._sftp_client().listdir(str(path)))
            except FileNotFoundError:
                return []
        return self._io(f"listing of {path}", listing)

    def makedirs(self, path) -> None:
        self.run("mkdir", "-p", "--", str(path))

    def remove(self, path) -> None:
        self.run("rm", "-f", "--", str(path))

    def remove_tree(self, path) -> None:
        self.run("rm", "-rf", "--", str(path))

    def write_text(self, path, text: str) -> None:
        def write():
            with self._sftp_client().open(str(path) + ".tmp", "w") as f:
                f.write(text)
        self.makedirs(PurePosixPath(path).parent)
        self._io(f"write of {path}", write)
        self.rename(str(path) + ".tmp", path)

    def read_text(self, path) -> str:
        def read():
            with self._sftp_client().open(str(path), "r") as f:
                return f.read().decode()
        return self._io(f"read of {path}", read)

    def free_disk_gb(self) -> int:
        self.makedirs(self.root)
        out = self.run("df", "-P", "-B1G", "--", str(self.root)).splitlines()[-1].split()
        return int(out[1])
