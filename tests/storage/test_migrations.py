"""The migrations build exactly the schema the tables declare, and run down and up again."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from orderbell.storage.schema import alembic_config, upgrade_database
from orderbell.storage.tables import Base


def schema_difference(path: Path) -> list[object]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_matches_the_models_and_downgrade_undoes_it(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    url = f"sqlite+aiosqlite:///{db}"
    upgrade_database(url)
    assert schema_difference(db) == []
    command.downgrade(alembic_config(url), "base")
    assert len(schema_difference(db)) > 5, "every table is gone"
    upgrade_database(url)
    assert schema_difference(db) == []
