"""Disks moved with paramiko to and from a host reached through a real sshd on 127.0.0.1.

cmp3 here is a simulated hypervisor whose instance files live "remotely": under a directory
reached only through SSH (SFTP for files, exec_command for sha256sum, mv, rm)."""
from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from core.engine import Engine
from core.hostfiles import HostKeyRefused, LocalFiles, RemoteFiles
from core.transport import copy_disk
from tests.conftest import act, launch, launch_on, log_text, make_config


def remote_inventory(tmp_path: Path, sshd, known_hosts: Path | None = None, size_mb: int = 1):
    remote_root = tmp_path / "remote-instances"
    ssh = (f'\n[hosts.ssh]\naddress = "127.0.0.1"\nport = {sshd.port}\nuser = "{sshd.user}"\n'
           f'key_file = "{sshd.client_key}"\nknown_hosts = "{known_hosts or sshd.known_hosts}"\n')
    config = make_config(tmp_path, replace={
        'name = "cmp3"\nuri = "test:///"\navailability_zone = "az2"\nvcpus = 32\nmemory_mb = 65536\ndisk_gb = 800\n':
        f'name = "cmp3"\nuri = "test:///"\navailability_zone = "az2"\nvcpus = 32\nmemory_mb = 65536\n'
        f'disk_gb = 800\ninstances_path = "{remote_root}"{ssh}',
        'size_mb = 1': f"size_mb = {size_mb}"})
    return config, remote_root


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def scribble(path: Path, text: str) -> str:
    with open(path, "r+b") as f:
        f.seek(8192)
        f.write(text.encode())
    return sha(path)


def test_migrate_to_and_from_a_host_over_ssh(tmp_path, sshd):
    config, remote_root = remote_inventory(tmp_path, sshd)
    state = tmp_path / "state"
    with Engine(config, state) as engine:
        inst = launch_on(engine, "cmp1", "travel")
        local_disk = state / "hosts" / inst["host"] / "instances" / inst["uuid"] / "disk"
        content = scribble(local_disk, "before the trip")
        there = act(engine, "migrate", "travel", host="cmp3")
        assert there["host"] == "cmp3" and there["vm_state"] == "resized"
        remote_disk = remote_root / inst["uuid"] / "disk"
        assert sha(remote_disk) == content
        assert act(engine, "confirm_resize", "travel")["host"] == "cmp3"
        assert not local_disk.parent.exists() and not Path(f"{local_disk.parent}_resize").exists()
        content = scribble(remote_disk, "written over there")
        back = act(engine, "migrate", "travel", host=inst["host"])
        assert back["host"] == inst["host"]
        assert sha(local_disk) == content
        act(engine, "confirm_resize", "travel")
        assert not (remote_root / inst["uuid"]).exists()
        assert not (remote_root / f"{inst['uuid']}_resize").exists()
        # launch and terminate straight on the SSH host too
        direct = launch(engine, "direct", az="az2")
        assert direct["host"] == "cmp3" and (remote_root / direct["uuid"] / "disk").exists()
        act(engine, "delete", "direct")
        assert not (remote_root / direct["uuid"]).exists()


def test_an_unknown_host_key_is_refused_and_nothing_moves(tmp_path, sshd):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    config, remote_root = remote_inventory(tmp_path, sshd, known_hosts=empty)
    state = tmp_path / "state"
    with Engine(config, state) as engine:
        inst = launch_on(engine, "cmp1", "stay")
        disk = state / "hosts" / inst["host"] / "instances" / inst["uuid"] / "disk"
        content = scribble(disk, "mine")
        req = engine.request("migrate", "stay", host="cmp3")
        assert engine.wait(req, 30)["message"] == "Error"
        after = engine.instance("stay")
        assert (after["vm_state"], after["host"], after["task_state"]) == ("active", inst["host"], None)
        assert sha(disk) == content
        fault = engine.fault(inst["uuid"])["message"]
        fingerprint = sshd.host_pub.split()[0]
        assert f"host key of [127.0.0.1]:{sshd.port} is not in {empty}" in fault
        assert fingerprint in fault and "SHA256:" in fault
        assert empty.read_text() == ""  # never added
        assert not (remote_root / inst["uuid"]).exists()
        assert "is not in" in log_text(state, "n-cpu")


def test_remote_files_refuse_unknown_keys_directly(tmp_path, sshd):
    empty = tmp_path / "kh"
    empty.write_text("")
    files = RemoteFiles("127.0.0.1", sshd.port, sshd.user, sshd.client_key, empty, tmp_path)
    with pytest.raises(HostKeyRefused, match="novatui never adds keys itself"):
        files.exists(tmp_path)


def test_arguments_with_shell_characters_are_quoted(tmp_path, sshd):
    files = RemoteFiles("127.0.0.1", sshd.port, sshd.user, sshd.client_key, sshd.known_hosts, tmp_path)
    odd = tmp_path / "a b; touch pwned $(id)"
    files.makedirs(odd)
    files.write_text(odd / "x", "hello")
    assert (odd / "x").read_text() == "hello"
    assert files.sha256(odd / "x") == hashlib.sha256(b"hello").hexdigest()
    files.remove_tree(odd)
    assert not odd.exists() and not (tmp_path / "pwned").exists()
    files.close()


def test_a_connection_cut_mid_copy_loses_nothing(tmp_path, sshd):
    config, remote_root = remote_inventory(tmp_path, sshd, size_mb=96)
    state = tmp_path / "state"
    with Engine(config, state) as engine:
        inst = launch_on(engine, "cmp1", "cut")
        disk = state / "hosts" / inst["host"] / "instances" / inst["uuid"] / "disk"
        content = scribble(disk, "precious")
        folder = remote_root / inst["uuid"]
        cut = threading.Event()

        def cutter():
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                parts = list(folder.glob("disk.part-*")) if folder.exists() else []
                if parts and parts[0].stat().st_size > 4 << 20:
                    sshd.kill_sessions()
                    cut.set()
                    return
                time.sleep(0.002)

        watcher = threading.Thread(target=cutter)
        watcher.start()
        req = engine.request("migrate", "cut", host="cmp3")
        action = engine.wait(req, 60)
        watcher.join()
        assert cut.is_set(), "the copy finished before it could be cut"
        assert action["message"] == "Error"
        after = engine.instance("cut")
        assert (after["vm_state"], after["host"], after["task_state"]) == ("active", inst["host"], None)
        assert sha(disk) == content
        assert engine.store.list_migrations(inst["uuid"])[-1]["status"] == "error"
        assert not folder.exists() or not any(folder.iterdir())
        assert "failed" in engine.fault(inst["uuid"])["message"]
        # and the host is usable again afterwards
        assert act(engine, "migrate", "cut", host="cmp3")["host"] == "cmp3"


def test_copy_disk_verifies_what_arrived(tmp_path, sshd):
    src = tmp_path / "src.img"
    src.write_bytes(b"z" * 100_000)
    local = LocalFiles(tmp_path)
    remote = RemoteFiles("127.0.0.1", sshd.port, sshd.user, sshd.client_key, sshd.known_hosts,
                         tmp_path / "r")
    digest = copy_disk(local, src, remote, tmp_path / "r" / "dst.img")
    assert digest == sha(src) == sha(tmp_path / "r" / "dst.img")
    back = copy_disk(remote, tmp_path / "r" / "dst.img", local, tmp_path / "back.img")
    assert back == digest
    remote.close()
