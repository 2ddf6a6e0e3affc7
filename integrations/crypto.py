"""Moved to `config.crypto` (messaging needs it too); kept for the migrations and old imports."""

from config.crypto import EncryptedJSONField, SecretsUnreadable, fernet

__all__ = ["EncryptedJSONField", "SecretsUnreadable", "fernet"]
