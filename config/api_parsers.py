"""JSON bodies the database can store: lone UTF-16 surrogates (`"\\ud800"`) are valid JSON
escapes but not Unicode, and PostgreSQL would fail on them deep inside a service. They are
refused here as a 400 instead."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _has_lone_surrogate(value) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    return False


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if _has_lone_surrogate(data):
            raise ParseError("JSON parse error - the body holds text that is not valid Unicode.")
        return data
