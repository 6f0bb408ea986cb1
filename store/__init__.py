"""Persistence: SQLAlchemy models, repository functions and the Alembic migrations."""
