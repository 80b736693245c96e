"""Alembic migrations of orderbell's schema; run with ``orderbell db upgrade``."""
