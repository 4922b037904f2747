"""The real tier: libvirtd + QEMU on this machine, started by scripts/real-hosts, and a second
libvirtd (scripts/libvirtd2) for live migration between two daemons. If the daemons cannot
start, every test that needs them fails (it never skips)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from core.config import load_config
from core.engine import Engine

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def real_hosts():
    up = subprocess.run([str(ROOT / "scripts" / "real-hosts"), "up"], capture_output=True,
                        text=True, timeout=900)
    if up.returncode != 0:
        pytest.fail(f"scripts/real-hosts up failed: {up.stderr.strip()[-800:]}")
    env = dict(line.split("=", 1) for line in (ROOT / ".real-hosts" / "env").read_text().split())
    yield env
    subprocess.run([str(ROOT / "scripts" / "real-hosts"), "down"], capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def libvirtd2(real_hosts):
    """The second daemon, its own host UUID, mount namespace and sshd (scripts/libvirtd2)."""
    script = str(ROOT / "scripts" / "libvirtd2")
    try:
        up = subprocess.run([script, "up"], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired as e:
        subprocess.run([script, "down"], capture_output=True, timeout=120)
        pytest.fail(f"scripts/libvirtd2 up did not finish in {e.timeout} s")
    if up.returncode != 0:
        pytest.fail(f"scripts/libvirtd2 up failed: {up.stderr.strip()[-800:]}")
    folder = Path(os.environ.get("NOVATUI_LIBVIRTD2_DIR") or ".libvirtd2")
    env = dict(line.split("=", 1) for line in (ROOT / folder / "env").read_text().split())
    yield env
    subprocess.run([script, "down"], capture_output=True, timeout=120)


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


@pytest.fixture
def real_config(real_hosts, tmp_path):
    image, rescue = tmp_path / "blank.qcow2", tmp_path / "rescue.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", str(image), "64M")
    qemu_img("create", "-q", "-f", "qcow2", str(rescue), "32M")
    text = (Path(__file__).parent / "hosts.toml.in").read_text()
    for key, value in {"@LOCAL_PATH@": tmp_path / "local", "@REMOTE_PATH@": tmp_path / "remote",
                       "@PORT@": real_hosts["NOVATUI_REAL_SSH_PORT"],
                       "@KEY@": real_hosts["NOVATUI_REAL_SSH_KEY"],
                       "@KNOWN_HOSTS@": real_hosts["NOVATUI_REAL_KNOWN_HOSTS"],
                       "@IMAGE@": image, "@RESCUE_IMAGE@": rescue}.items():
        text = text.replace(key, str(value))
    path = tmp_path / "hosts.toml"
    path.write_text(text)
    return load_config(path)


@pytest.fixture
def real_engine(real_config, tmp_path):
    engine = Engine(real_config, tmp_path / "state").start()
    yield engine
    for inst in engine.instances():  # leave no guest behind on the shared daemon
        try:
            engine.wait(engine.request("force_delete", inst["uuid"]), 60)
        except Exception:  # noqa: BLE001
            pass
    engine.stop()
