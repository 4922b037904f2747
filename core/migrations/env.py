"""alembic's environment: always given a connection (core.migrations.upgrade), in its
transaction; there is no offline (SQL script) mode."""
from alembic import context

from core.store_schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("core/migrations runs from core.migrations.upgrade(connection)")
context.configure(connection=connection, target_metadata=metadata, transactional_ddl=True,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
