"""Alembic's environment: migrates the connection handed over in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from serving.store.schema import METADATA

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the store's migrations through serving.store.migrate.upgrade(); "
                       "it hands Alembic the connection to migrate")
context.configure(connection=connection, target_metadata=METADATA,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
