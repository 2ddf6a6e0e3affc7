"""Numbers the API reads from a query or a path, bounded to what the database stores.

Ids are 64-bit integers in every supported database; a bigger number cannot name a row, and
left to the ORM it overflows the driver (a 500). So an id filter takes whole numbers from 1 to
2^63 - 1 and answers anything else with a 400 naming the filter, and the schema says so.
An id filter only narrows the list: an id that names nothing (or nothing you may see) is an
empty list, never an error that would tell it exists.
"""

import re

import django_filters
from django import forms
from django.db import models
from django.db.models.fields.related import ManyToManyRel, ManyToOneRel, OneToOneRel
from drf_spectacular.utils import extend_schema_field

INT64_MAX = 2**63 - 1
ID_SCHEMA = {"type": "integer", "format": "int64", "minimum": 1, "maximum": INT64_MAX}

_WHOLE_NUMBER = re.compile(r"-?[0-9]+")


def whole_number(value, *, minimum: int, maximum: int) -> int:
    """`value` (text) as an int within [minimum, maximum]; a ValidationError says why not."""
    text = str(value).strip()
    if not _WHOLE_NUMBER.fullmatch(text):
        raise forms.ValidationError("Enter a whole number.", code="invalid")
    number = int(text)
    if not minimum <= number <= maximum:
        raise forms.ValidationError(
            f"Enter a whole number from {minimum} to {maximum}.", code="out_of_range"
        )
    return number


class IdField(forms.Field):
    def to_python(self, value):
        if value in self.empty_values:
            return None
        return whole_number(value, minimum=1, maximum=INT64_MAX)


class IdListField(forms.Field):
    widget = forms.MultipleHiddenInput  # reads every value of a repeated parameter

    def to_python(self, value):
        if not value:
            return []
        values = value if isinstance(value, list | tuple) else [value]
        return [whole_number(v, minimum=1, maximum=INT64_MAX) for v in values]


@extend_schema_field(ID_SCHEMA)
class IdFilter(django_filters.Filter):
    """Rows whose `field_name` (an id or a foreign key) is this id."""

    field_class = IdField


@extend_schema_field({"type": "array", "items": ID_SCHEMA})
class IdsFilter(django_filters.Filter):
    """Rows related to any of these ids (`?contacts=1&contacts=2`)."""

    field_class = IdListField

    def filter(self, qs, value):
        if not value:
            return qs
        return qs.filter(**{f"{self.field_name}__in": value}).distinct()


class ApiFilterSet(django_filters.FilterSet):
    """A FilterSet whose generated filters for ids and relations are `IdFilter`/`IdsFilter`."""

    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        models.AutoField: {"filter_class": IdFilter},
        models.BigAutoField: {"filter_class": IdFilter},
        models.ForeignKey: {"filter_class": IdFilter},
        models.OneToOneField: {"filter_class": IdFilter},
        OneToOneRel: {"filter_class": IdFilter},
        models.ManyToManyField: {"filter_class": IdsFilter},
        ManyToOneRel: {"filter_class": IdsFilter},
        ManyToManyRel: {"filter_class": IdsFilter},
    }
