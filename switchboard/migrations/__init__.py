"""Alembic migrations for every domain's tables (run them with ``switchboard db upgrade``)."""
