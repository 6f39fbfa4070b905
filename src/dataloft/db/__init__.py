"""Persistence: SQLAlchemy models, the engine wrapper and Alembic migrations."""

from dataloft.db.engine import Database

__all__ = ["Database"]
