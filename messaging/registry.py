"""A literal registry: one stable key per implementation, mapped to its dotted class path.

Providers, connectors and the platform lookup are built on it, so the model `choices` come from the
same dict as the code (a callable, so no list is kept by hand and nothing is imported at model
load). The keys are permanent database values. An unknown key is an error, never a silent default.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from django.utils.module_loading import import_string


class UnknownKey(LookupError):
    pass


class Registry:
    def __init__(
        self, what: str, paths: Mapping[str, str], *, unknown: type[LookupError] = UnknownKey
    ):
        self.what = what
        self.paths = dict(paths)
        self.unknown = unknown
        self._classes: dict[str, type] = {}

    def __contains__(self, key: object) -> bool:
        return key in self.paths

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {sorted(self.paths)!r})"

    def keys(self) -> tuple[str, ...]:
        return tuple(self.paths)

    def get(self, key: str) -> type:
        try:
            return self._classes[key]
        except KeyError:
            pass
        try:
            path = self.paths[key]
        except KeyError:
            raise self.unknown(f"No {self.what} is registered as {key!r}.") from None
        cls = self._classes[key] = import_string(path)
        return cls

    def choices(self) -> list[tuple[str, str]]:
        return [(key, self.get(key).label) for key in self.paths]
