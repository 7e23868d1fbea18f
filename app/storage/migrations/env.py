"""Alembic environment: runs on the connection :meth:`Database.upgrade` hands in."""

from __future__ import annotations

from alembic import context

from app.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable through the alembic CLI
    raise RuntimeError("run migrations through `ai-trader db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    include_schemas=connection.dialect.name == "postgresql",
)
with context.begin_transaction():
    context.run_migrations()
