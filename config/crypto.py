"""Secrets at rest: Fernet with keys from the environment.

`SECRETS_ENCRYPTION_KEYS` is a comma-separated list: the first key encrypts, every key decrypts,
so a new key is put first, `manage.py rotate_secrets` re-encrypts every row, and the old key is
dropped.
"""

import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.SECRETS_ENCRYPTION_KEYS))


class SecretsUnreadable(Exception):
    pass


class EncryptedJSONField(models.TextField):
    """A dict stored as one Fernet token; the database never sees the plain values."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return {}
        try:
            return json.loads(fernet().decrypt(value.encode()))
        except InvalidToken as exc:
            raise SecretsUnreadable(
                "Stored secrets cannot be decrypted with SECRETS_ENCRYPTION_KEYS."
            ) from exc

    def to_python(self, value):
        return value if isinstance(value, dict) else {}

    def get_prep_value(self, value):
        if not value:
            # Nothing secret to hide: "" reads back as {} without a Fernet call, which matters on
            # rows loaded in bulk (every inbox row joins its channel).
            return ""
        return fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()

    def value_to_string(self, obj):
        return "<encrypted>"
