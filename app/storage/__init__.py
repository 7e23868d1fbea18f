"""Persistence: the relational database (SQLAlchemy 2 + Alembic) and the blob store (fsspec)."""
