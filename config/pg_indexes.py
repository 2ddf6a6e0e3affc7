"""Indexes only PostgreSQL can build, created by migrations there and skipped on SQLite (which
serves the same queries the plain way at its small sizes).

- Trigram (pg_trgm) GIN indexes for searches inside a text. Django writes `name__icontains` as
  `UPPER("name"::text) LIKE UPPER('%term%')` and `phone__contains` as
  `"phone"::text LIKE '%term%'`: the indexed expressions are those, so the planner uses them.
- Orders SQLite cannot index, such as `DESC NULLS LAST`.
"""

from django.db import migrations


def trigram(name: str, table: str, expression: str) -> tuple[str, str]:
    return (
        name,
        f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (({expression}) gin_trgm_ops)",
    )


def postgres_indexes(*indexes: tuple[str, str]) -> migrations.RunPython:
    """(index name, CREATE INDEX statement) for each index."""

    def create(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for _name, statement in indexes:
            schema_editor.execute(statement)

    def drop(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for name, _statement in indexes:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")

    return migrations.RunPython(create, drop, elidable=False)
