"""`field__any=ids`: the column equals one of a list of ids read just before.

A sales rep's lists filter the big tables by the ids of their clients and conversations (about a
thousand, read first: see crm.selectors.contact_ids_visible_to). As `IN (%s, %s, ...)` each id is
a parameter of its own: Django prepares every one, psycopg splits the statement at every
placeholder and PostgreSQL parses them all, three times a page, ~20 ms of a rep's page at 1k
clients. On PostgreSQL the list goes as one array parameter (`= ANY(%s)`), which the same index
answers; elsewhere it is the plain `IN`.
"""

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject, Lookup


@Field.register_lookup
class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self):
        return [int(value) for value in self.rhs]

    def as_sql(self, compiler, connection):
        if not self.rhs:
            raise EmptyResultSet
        lhs, lhs_params = self.process_lhs(compiler, connection)
        placeholders = ", ".join(["%s"] * len(self.rhs))
        return f"{lhs} IN ({placeholders})", (*lhs_params, *self.rhs)

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::bigint[])", (*lhs_params, self.rhs)


# Relations keep lookups of their own (Django does not look past ForeignObject): `contact_id__any`.
ForeignObject.register_lookup(AnyOf)
