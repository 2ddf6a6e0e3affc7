"""`Idempotency-Key` for API sends: a retried request gets the first answer and sends nothing.

The key row is inserted first, inside the transaction that sends. On PostgreSQL a concurrent
duplicate blocks on the unique index until the first commits, then reads its stored answer; a
duplicate arriving while the first is still running elsewhere (it cannot see the row yet on
PostgreSQL, but it can on SQLite) gets 409 "in progress".
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from messaging.models import IdempotencyKey

MAX_KEY_LENGTH = 255
KEEP_FOR = timedelta(hours=24)


class IdempotencyConflict(Exception):
    def __init__(self, message: str, *, code: str):
        self.code = code
        super().__init__(message)


@dataclass
class IdempotentResult:
    status: int
    body: dict
    replayed: bool


def request_fingerprint(*, method: str, path: str, data) -> str:
    canonical = json.dumps(
        {"method": method, "path": path, "data": data}, sort_keys=True, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent_call(
    *, principal: str, key: str, fingerprint: str, call: Callable[[], tuple[int, dict]]
) -> IdempotentResult:
    """Run `call` once per (principal, key); it returns (status, body) and must not raise for
    answers worth replaying. An exception rolls back the key too, so the client can retry."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    principal=principal, key=key, request_hash=fingerprint
                )
        except IntegrityError:
            return _replay(principal=principal, key=key, fingerprint=fingerprint)
        status, body = call()
        row.state = IdempotencyKey.State.DONE
        row.response_status = status
        row.response_body = body
        row.save(update_fields=["state", "response_status", "response_body"])
    return IdempotentResult(status=status, body=body, replayed=False)


def _replay(*, principal: str, key: str, fingerprint: str) -> IdempotentResult:
    row = IdempotencyKey.objects.get(principal=principal, key=key)
    if row.request_hash != fingerprint:
        raise IdempotencyConflict(
            f"The Idempotency-Key {key!r} was already used with a different request body.",
            code="idempotency_key_reused",
        )
    if row.state != IdempotencyKey.State.DONE:
        raise IdempotencyConflict(
            f"A request with the Idempotency-Key {key!r} is still in progress; retry shortly.",
            code="idempotency_in_progress",
        )
    return IdempotentResult(status=row.response_status, body=row.response_body, replayed=True)


def idempotency_keys_purge(*, older_than: timedelta = KEEP_FOR) -> int:
    """Forget keys after a day: clients retry within minutes, and the table stays small."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted
