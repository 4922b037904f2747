"""The distributed tier: a private RabbitMQ and a private PostgreSQL on 127.0.0.1, started by
scripts/services. If they cannot start, every test here fails (it never skips)."""
from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "services"
HERE = Path(__file__).resolve().parent


def services_dir() -> Path:
    return Path(os.environ.get("NOVATUI_SERVICES_DIR") or ROOT / ".services").resolve()


def run_script(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "NOVATUI_SERVICES_DIR": str(services_dir())}
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=ROOT)


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value
    return env


@dataclass
class Services:
    """What scripts/services started: URLs with the throwaway credentials, and the env file."""
    dir: Path
    env: dict[str, str] = field(repr=False)

    @property
    def transport_url(self) -> str:   # oslo.messaging's form: rabbit://user:pass@127.0.0.1:port/
        return self.env["NOVATUI_TRANSPORT_URL"]

    @property
    def amqp_url(self) -> str:        # the same broker as kombu names it
        return "amqp://" + self.transport_url.split("://", 1)[1]

    @property
    def database_url(self) -> str:    # postgresql://user:pass@127.0.0.1:port/novatui
        return self.env["NOVATUI_DATABASE_URL"]

    @property
    def sqlalchemy_url(self) -> str:  # the same database through psycopg 3
        return "postgresql+psycopg://" + self.database_url.split("://", 1)[1]

    def reload(self) -> None:
        self.env = read_env(self.dir / "services.env")

    def restart_rabbitmq(self) -> None:
        """Stop and start RabbitMQ: same data dir (durable queues survive), credentials, port."""
        out = run_script("restart", "rabbitmq", timeout=300)
        if out.returncode != 0:
            pytest.fail(f"scripts/services restart rabbitmq failed:\n{out.stdout}{out.stderr}",
                        pytrace=False)
        self.reload()


def pytest_configure(config):
    config.addinivalue_line("markers", "distributed: needs RabbitMQ and PostgreSQL on 127.0.0.1 "
                                       "(scripts/services up)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.distributed)


@pytest.fixture(scope="session")
def services():
    already_up = run_script("status", timeout=60).returncode == 0
    up = run_script("up")
    if up.returncode != 0:
        pytest.fail(f"scripts/services up failed (exit {up.returncode}):\n{up.stdout}{up.stderr}",
                    pytrace=False)
    svc = Services(services_dir(), {})
    svc.reload()
    yield svc
    if not already_up:   # only what this session started
        run_script("down", timeout=300)


@contextmanager
def private_schema(services, prefix: str = "t"):
    """A PostgreSQL URL whose tables live in a schema of their own, dropped at the end."""
    import uuid as uuidlib
    from urllib.parse import quote

    from sqlalchemy import create_engine, text
    base = services.database_url
    schema = f"{prefix}_{uuidlib.uuid4().hex[:10]}"
    admin = create_engine(services.sqlalchemy_url)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def pg_schema(services):
    """This test's own schema."""
    with private_schema(services) as url:
        yield url


@pytest.fixture
def cloud(services, pg_schema, tmp_path):
    from tests.distributed.cloud import Cloud
    from tests.distributed.processes import purge_queues
    made = Cloud(tmp_path, pg_schema, services.transport_url)
    purge_queues(services.amqp_url, ["conductor", *(f"compute.{h}" for h in Cloud.HOSTS)])
    yield made
    made.close()
