"""scripts/services gives the distributed tier a PostgreSQL and a RabbitMQ that answer on
127.0.0.1, and a RabbitMQ restart loses no durable message."""
from __future__ import annotations

import stat
import uuid

import kombu
import sqlalchemy as sa

from tests.distributed.conftest import run_script


def test_env_file_is_private_and_status_says_up(services):
    env_file = services.dir / "services.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert services.transport_url.startswith("rabbit://")
    assert "@127.0.0.1:" in services.transport_url and "@127.0.0.1:" in services.database_url
    status = run_script("status", timeout=60)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "rabbitmq pid" in status.stdout and "postgres pid" in status.stdout


def test_postgres_answers(services):
    engine = sa.create_engine(services.sqlalchemy_url)
    table = f"probe_{uuid.uuid4().hex[:8]}"
    try:
        with engine.begin() as conn:
            assert conn.execute(sa.text("select host(inet_server_addr())")).scalar() == "127.0.0.1"
            conn.execute(sa.text(f"create table {table} (id int primary key, name text)"))
            conn.execute(sa.text(f"insert into {table} values (1, 'web1')"))
        with engine.connect() as conn:
            assert conn.execute(sa.text(f"select name from {table} where id = 1")).scalar() == "web1"
            assert conn.execute(sa.text("select current_database()")).scalar() == "novatui"
        with engine.begin() as conn:
            conn.execute(sa.text(f"drop table {table}"))
    finally:
        engine.dispose()


def test_durable_message_survives_rabbitmq_restart(services):
    name = f"probe-{uuid.uuid4().hex[:8]}"
    exchange = kombu.Exchange(name, type="direct", durable=True)
    queue = kombu.Queue(name, exchange, routing_key=name, durable=True)
    body = {"method": "cast_probe", "id": name}

    # Publisher confirms: the broker has the persistent message before it goes down.
    with kombu.Connection(services.amqp_url, transport_options={"confirm_publish": True}) as conn:
        conn.ensure_connection(max_retries=3)
        conn.Producer().publish(body, exchange=exchange, routing_key=name, declare=[queue],
                                delivery_mode=2, serializer="json")
    port = services.env["NOVATUI_RABBITMQ_PORT"]
    pid = services.env["NOVATUI_RABBITMQ_PID"]

    services.restart_rabbitmq()

    assert services.env["NOVATUI_RABBITMQ_PORT"] == port
    assert services.env["NOVATUI_RABBITMQ_PID"] != pid
    with kombu.Connection(services.amqp_url) as conn:
        conn.ensure_connection(max_retries=10, interval_start=0.5)
        bound = queue(conn.default_channel)
        message = bound.get(no_ack=False)
        assert message is not None, "the durable queue lost its message across the restart"
        assert message.payload == body
        message.ack()
        assert bound.get() is None
        bound.delete()
        exchange(conn.default_channel).delete()
