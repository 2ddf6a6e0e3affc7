"""The contract every CRM / marketing / e-commerce connector implements, and the types it speaks.

Connectors only translate between the wire and plain Python types: no ORM, no business rules.
Every HTTP call goes through `messaging.http.request`, the project's one seam.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import requests

from messaging import http


class RecordKind:
    CONTACT = "contact"
    LEAD = "lead"
    COMPANY = "company"

    ALL = (CONTACT, LEAD, COMPANY)


@dataclass
class ExternalRecord:
    """One contact, lead or company as a platform has it.

    `phone` is the raw text the platform stores; turning it into E.164 is the services' job.
    `raw` is the platform's own record (for vtiger: with HTML entities already decoded).
    """

    external_id: str
    kind: str
    name: str = ""
    phone: str = ""
    email: str = ""
    company_external_id: str = ""
    company_name: str = ""
    modified_at: datetime | None = None
    raw: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PushResult:
    """What a push did. `existed` says the platform already held the record (it refused to create
    a duplicate), so the push linked ours to that one and updated it instead of creating one."""

    external_id: str
    existed: bool = False


class ConnectorError(http.RemoteError):
    """A call to the platform failed: permanent unless `transient`.

    `transient` errors may succeed later (after `retry_after` seconds when the platform said so);
    `credentials_invalid` marks the account unhealthy until someone fixes its settings.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        transient: bool = False,
        retry_after: float | None = None,
        credentials_invalid: bool = False,
        raw: dict | None = None,
    ):
        super().__init__(
            message,
            code=code,
            permanent=not transient,
            retry_after=retry_after,
            credentials_invalid=credentials_invalid,
            raw=raw,
        )

    def __repr__(self):
        return (
            f"ConnectorError({self.message!r}, code={self.code!r}, transient={self.transient}, "
            f"retry_after={self.retry_after}, credentials_invalid={self.credentials_invalid})"
        )


class Connector:
    """Base class. One instance per integration account, built from its settings and secrets."""

    key: str = ""
    label: str = ""
    setting_fields: tuple[str, ...] = ()
    secret_fields: tuple[str, ...] = ()

    def __init__(self, *, settings: Mapping, secrets: Mapping):
        self.settings = dict(settings)
        self.secrets = dict(secrets)

    @classmethod
    def validate_config(cls, *, settings: Mapping, secrets: Mapping) -> dict[str, str]:
        """Return {field: error} for what is wrong; empty when the config is usable."""
        errors = {}
        for name in cls.setting_fields:
            if not str(settings.get(name) or "").strip():
                errors[name] = "This setting is required."
        for name in cls.secret_fields:
            if not str(secrets.get(name) or "").strip():
                errors[name] = "This secret is required."
        return errors

    def verify_credentials(self) -> str:
        """Call the platform with the stored credentials; return what it said, or raise."""
        raise NotImplementedError

    def iter_modified(self, since: datetime) -> Iterator[ExternalRecord]:
        """Contacts, leads and companies modified after `since` (an aware datetime)."""
        raise NotImplementedError

    def push(self, record: ExternalRecord) -> str:
        """Create the record, or update it when it has an external id; return the external id."""
        raise NotImplementedError

    # Whether `delete` is implemented: a GDPR erasure asks the platform to forget the person.
    supports_delete: bool = False

    def delete(self, *, external_id: str, kind: str) -> None:
        """Delete one contact or lead at the platform; one already gone counts as deleted."""
        raise NotImplementedError

    def push_result(self, record: ExternalRecord) -> PushResult:
        """`push`, also saying whether the record was found already there. Connectors whose
        platform can answer "it exists" to a create override this."""
        return PushResult(self.push(record))

    def _http(self, method: str, url: str, **kwargs) -> requests.Response:
        try:
            return http.request(method, url, **kwargs)
        except http.HttpFailure as exc:
            raise ConnectorError(f"{self.label}: {exc}", transient=True) from exc


def url_error(value: str, *, schemes: tuple[str, ...] = ("https", "http")) -> str | None:
    """Why `value` is not a usable base URL, or None."""
    value = (value or "").strip()
    if not value:
        return "This setting is required."
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        return f"Enter a full URL starting with {' or '.join(f'{s}://' for s in schemes)}."
    if parts.query or parts.fragment:
        return "Enter the base URL without a query string."
    return None


def key_error(value, *, where: str) -> str | None:
    """Why `value` is not a usable API key or token, or None."""
    value = str(value or "").strip()
    if not value:
        return "This secret is required."
    if any(c.isspace() for c in value):
        return f"A key has no spaces: copy it again from {where}."
    return None


def split_name(name: str) -> tuple[str, str]:
    """("Anna", "Maria Rossi") from "Anna Maria Rossi"; a single word is a last name."""
    words = (name or "").split()
    if len(words) < 2:
        return "", " ".join(words)
    return words[0], " ".join(words[1:])


def join_name(*parts: str | None) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


class RateLimiter:
    """At most `calls` calls in any rolling `period` seconds, for one instance.

    `clock` and `sleep` are injectable so tests can run it on a fake clock.
    """

    def __init__(
        self,
        calls: int,
        period: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.calls = calls
        self.period = period
        self.clock = clock
        self.sleep = sleep
        self._stamps: deque[float] = deque()

    def wait(self) -> None:
        """Block until one more call fits in the window, then count it."""
        while True:
            now = self.clock()
            while self._stamps and now - self._stamps[0] >= self.period:
                self._stamps.popleft()
            if len(self._stamps) < self.calls:
                self._stamps.append(now)
                return
            self.sleep(self._stamps[0] + self.period - now)
