"""Many rows, each with values of its own, written in one statement.

Django's `bulk_update` writes `SET field = CASE WHEN id = 1 THEN ... WHEN id = 2 ...` for every
field: for a drain's hundred conversations and six fields it builds, resolves and copies six
hundred expressions, about 2 ms of CPU per inbound message, a third of the whole drain. On
PostgreSQL the values go as one array per column and the statement joins them to the rows by id
(`UPDATE ... FROM unnest(...)`); other databases get `bulk_update`.
"""

from django.db import connections, router


def rows_update(objs, fields: list[str]) -> int:
    """Write `fields` of every object in `objs` (one model) as they are on the objects; returns
    the number of rows written. The rows are visited in id order, so two writers lock shared rows
    in the same order."""
    objs = sorted(objs, key=lambda obj: obj.pk)
    if not objs:
        return 0
    model = type(objs[0])
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        return model._base_manager.bulk_update(objs, fields)
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    arrays = [[pk.get_db_prep_value(obj.pk, connection) for obj in objs]]
    casts = [pk.rel_db_type(connection)]
    for field in columns:
        values = [getattr(obj, field.attname) for obj in objs]
        arrays.append([field.get_db_prep_save(value, connection) for value in values])
        casts.append(field.cast_db_type(connection))
    names = [quote(pk.column), *(quote(field.column) for field in columns)]
    table = quote(meta.db_table)
    assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in columns)
    unnest = ", ".join(f"%s::{cast}[]" for cast in casts)
    # Names and types come from the model, quoted; every value is a parameter.
    values = f"unnest({unnest}) AS v({', '.join(names)})"
    where = f"{table}.{names[0]} = v.{names[0]}"
    sql = f"UPDATE {table} SET {assignments} FROM {values} WHERE {where}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        return cursor.rowcount
